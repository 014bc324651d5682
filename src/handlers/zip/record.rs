//! Wheel `RECORD` files (PEP 376, PEP 427 / the binary distribution format
//! spec): `<name>.dist-info/RECORD` lists every file of the wheel as a CSV row
//! `path,hash,size`, with `hash` written `<algorithm>=<urlsafe base64 digest,
//! no padding>`. Installers (`installer --validate-record all`, pip) reject a
//! wheel whose members do not match it.
//!
//! When the zip plan changes a member's **content** (a nested `.mo` or PE
//! launcher, say), the member's row gets its new hash (same algorithm:
//! sha224, sha256, sha384 or sha512) and its new size; when the plan drops a
//! member, its row is removed. Everything else of the file is kept byte for
//! byte: row order, quoting (a quoted field is written quoted again), line
//! endings, rows of other members. Metadata the zip handler normalizes (times,
//! order, extra fields, modes) is not covered by `RECORD` and needs nothing.
//!
//! The whole archive is left untouched ([`FormatError::Unsupported`]) when a
//! changed or dropped member is concerned and `RECORD` cannot be kept right:
//! `RECORD` cannot be read (another compression method, not CSV as Python's
//! `csv` module reads it), a row of the member uses another algorithm, or its
//! hash or size did not match the member before the change (the wheel was
//! already inconsistent: not ours to guess which side is right). Signed wheels
//! (`RECORD.jws`, `RECORD.p7s`) are refused whenever anything would change:
//! the signature covers `RECORD`.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;
use sha2::Digest as _;

use super::bytes::InMemory;
use super::{Archive, DEFLATED, Inflater, NewData, Plan, STORED, deflate, show, to_usize};
use crate::handler::{Change, FormatError};

/// The rows' suffix that names the manifest.
const RECORD: &[u8] = b".dist-info/RECORD";

/// Whether `name` is `<something>.dist-info/RECORD` at the top of the archive.
fn is_record(name: &[u8]) -> bool {
    name.ends_with(RECORD)
        && name.len() > RECORD.len()
        && !name[..name.len() - RECORD.len()].contains(&b'/')
}

/// Whether `name` is a signature of a top-level `RECORD`.
fn is_record_signature(name: &[u8]) -> bool {
    [&b".jws"[..], b".p7s"]
        .iter()
        .any(|ext| name.strip_suffix(*ext).is_some_and(is_record))
}

fn unsupported(msg: impl Into<String>) -> FormatError {
    FormatError::Unsupported(msg.into())
}

/// Updates every top-level `RECORD` for the members whose content `plan`
/// changes or which it drops. Does nothing when there are none.
pub(super) fn update(archive: &Archive, plan: &mut Plan) -> Result<(), FormatError> {
    let names: Vec<&[u8]> = archive.entries.iter().map(|e| archive.name(e)).collect();
    let planned: Vec<bool> = {
        let mut v = vec![false; names.len()];
        for p in &plan.entries {
            v[p.index] = true;
        }
        v
    };
    let mut inflater = Inflater::new();
    // (name, index into the plan of its new content); `None`: dropped.
    let mut touched: Vec<(&[u8], Option<usize>)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if is_record(name) {
            continue;
        }
        if !planned[i] {
            touched.push((name, None));
        }
    }
    for (k, p) in plan.entries.iter().enumerate() {
        if p.new_data.is_some() && !is_record(names[p.index]) {
            touched.push((names[p.index], Some(k)));
        }
    }
    if touched.is_empty() {
        return Ok(());
    }
    if let Some(sig) = names.iter().find(|n| is_record_signature(n)) {
        return Err(unsupported(format!(
            "signed wheel ({}): members would change, and the signature covers RECORD",
            show(sig)
        )));
    }
    let records: Vec<usize> = (0..plan.entries.len())
        .filter(|&k| is_record(names[plan.entries[k].index]))
        .collect();
    for k in records {
        let index = plan.entries[k].index;
        let record_name = show(names[index]);
        let text = match &plan.entries[k].new_data {
            Some(new) => Cow::Owned(plain(archive, index, new, &mut inflater)?),
            None => original(archive, index, &mut inflater)?
                .ok_or_else(|| unsupported(format!("{record_name} cannot be read")))?,
        };
        let rows = parse_csv(&text).map_err(|m| {
            unsupported(format!(
                "{record_name} is not CSV as installers read it: {m}"
            ))
        })?;
        let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
        let mut notes = Vec::new();
        for &(name, new) in &touched {
            let lines: Vec<&Row> = rows
                .iter()
                .filter(|r| r.fields.first().is_some_and(|f| f.value == name))
                .collect();
            if lines.is_empty() {
                continue;
            }
            let shown = show(name);
            let Some(k_new) = new else {
                edits.extend(lines.iter().map(|r| (r.line.clone(), Vec::new())));
                notes.push(Change::gone(
                    &*record_name,
                    format!("row of dropped {shown}"),
                    "",
                    "removed",
                ));
                continue;
            };
            let entry_index = plan.entries[k_new].index;
            let old = original(archive, entry_index, &mut inflater)?
                .ok_or_else(|| unsupported(format!("{shown} cannot be read to check RECORD")))?;
            let new_data = plan.entries[k_new]
                .new_data
                .as_ref()
                .expect("touched entries have new data");
            let new_bytes = plain(archive, entry_index, new_data, &mut inflater)?;
            for row in lines {
                edit_row(&record_name, &shown, row, &old, &new_bytes, &mut edits)?;
            }
            notes.push(Change::gone(
                &*record_name,
                format!("hash and size of {shown}"),
                "",
                "updated",
            ));
        }
        if edits.is_empty() {
            continue;
        }
        plan.entries[k].new_data = Some(store(&archive.entries[index], &text, edits));
        plan.changes.extend(notes);
    }
    Ok(())
}

/// The edits that give `row` (of `shown` in `record_name`) the hash and size
/// of `new`, after checking that they were those of `old`.
fn edit_row(
    record_name: &str,
    shown: &str,
    row: &Row,
    old: &[u8],
    new_bytes: &[u8],
    edits: &mut Vec<(Range<usize>, Vec<u8>)>,
) -> Result<(), FormatError> {
    let [_, hash, size] = &row.fields[..] else {
        return Err(unsupported(format!(
            "{record_name}: the row of {shown} has {} fields, not 3",
            row.fields.len()
        )));
    };
    if !hash.value.is_empty() {
        let text = std::str::from_utf8(&hash.value).unwrap_or("");
        let (algo, value) = text.split_once('=').ok_or_else(|| {
            unsupported(format!(
                "{record_name}: hash of {shown} is not algorithm=value"
            ))
        })?;
        let digest = |data: &[u8]| {
            digest(algo, data).ok_or_else(|| {
                unsupported(format!(
                    "{record_name}: {shown} is hashed with {algo}, which strip-nd does not compute"
                ))
            })
        };
        if digest(old)? != value {
            return Err(unsupported(format!(
                "{record_name}: the {algo} hash of {shown} did not match it before normalizing"
            )));
        }
        let new_value = format!("{algo}={}", digest(new_bytes)?);
        edits.push((hash.raw.clone(), quoted(hash.quoted, &new_value)));
    }
    if !size.value.is_empty() {
        if size.value != old.len().to_string().as_bytes() {
            return Err(unsupported(format!(
                "{record_name}: the size of {shown} did not match it before normalizing"
            )));
        }
        edits.push((
            size.raw.clone(),
            quoted(size.quoted, &new_bytes.len().to_string()),
        ));
    }
    Ok(())
}

/// `text` with `edits` (sorted here) applied, stored as `e` was stored.
fn store(e: &super::Entry, text: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> NewData {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for (range, with) in edits {
        out.extend_from_slice(&text[at..range.start]);
        out.extend_from_slice(&with);
        at = range.end;
    }
    out.extend_from_slice(&text[at..]);
    let crc = crc32fast::hash(&out);
    let usize = out.len() as u64;
    let data = if e.method == STORED {
        out
    } else {
        deflate(&out)
    };
    NewData {
        csize: data.len() as u64,
        data: super::plan::Content::Memory(data),
        crc,
        usize,
    }
}

/// A field written again: quoted when it was quoted (the values written here
/// hold no quote, comma or line break).
fn quoted(was: bool, value: &str) -> Vec<u8> {
    if was {
        format!("\"{value}\"").into_bytes()
    } else {
        value.as_bytes().to_vec()
    }
}

/// The urlsafe, unpadded base64 digest of `data`, for the algorithms
/// installers accept in wheels; `None` for another algorithm.
fn digest(algo: &str, data: &[u8]) -> Option<String> {
    let d: Vec<u8> = match algo {
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d))
}

/// The original content of entry `index`; `None` when it is not expandable.
fn original<'a>(
    archive: &'a Archive<'_>,
    index: usize,
    inflater: &mut Inflater,
) -> Result<Option<Cow<'a, [u8]>>, FormatError> {
    let e = &archive.entries[index];
    match e.method {
        STORED => archive.data(e.data.clone()).map(Some),
        DEFLATED => {
            let size = to_usize(e.usize, "uncompressed size")?;
            let range = e.data.start as u64..e.data.end as u64;
            let src = archive.bytes.source();
            let bytes = inflater.all(src, range, size).map_err(|m| {
                FormatError::malformed(format!("entry {}: {m}", show(archive.name(e))))
            })?;
            Ok(Some(Cow::Owned(bytes)))
        }
        _ => Ok(None),
    }
}

/// The new content of entry `index`, uncompressed.
fn plain(
    archive: &Archive,
    index: usize,
    new: &NewData,
    inflater: &mut Inflater,
) -> Result<Vec<u8>, FormatError> {
    let data = new.data.bytes()?;
    if archive.entries[index].method == STORED {
        return Ok(data.into_owned());
    }
    let size = to_usize(new.usize, "uncompressed size")?;
    let range = 0..data.len() as u64;
    inflater
        .all(&InMemory(&data), range, size)
        .map_err(|m| FormatError::malformed(format!("recompressed member: {m}")))
}

/// One CSV field: its bytes in the file (quotes included) and its value.
#[derive(Debug)]
struct Field {
    raw: Range<usize>,
    value: Vec<u8>,
    quoted: bool,
}

/// One CSV row: its fields and its line, terminator included.
#[derive(Debug)]
struct Row {
    fields: Vec<Field>,
    line: Range<usize>,
}

/// Reads CSV as Python's `csv.reader` does with the default dialect
/// (`,` separator, `"` quotes doubled inside quoted fields, rows ending at
/// `\n`, `\r\n` or `\r` outside quotes). Text after a closing quote is refused
/// rather than guessed at. Empty lines hold no row.
fn parse_csv(text: &[u8]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let start = pos;
        if let Some(n) = line_break(text, pos) {
            pos += n;
            continue;
        }
        let mut fields = Vec::new();
        loop {
            let field_start = pos;
            let mut value = Vec::new();
            let quoted = text.get(pos) == Some(&b'"');
            if quoted {
                pos += 1;
                loop {
                    match text.get(pos) {
                        None => return Err(format!("unterminated quote at offset {field_start}")),
                        Some(b'"') if text.get(pos + 1) == Some(&b'"') => {
                            value.push(b'"');
                            pos += 2;
                        }
                        Some(b'"') => {
                            pos += 1;
                            break;
                        }
                        Some(&b) => {
                            value.push(b);
                            pos += 1;
                        }
                    }
                }
                if !matches!(text.get(pos), None | Some(b',' | b'\n' | b'\r')) {
                    return Err(format!("text after a closing quote at offset {pos}"));
                }
            } else {
                while let Some(&b) = text.get(pos) {
                    if matches!(b, b',' | b'\n' | b'\r') {
                        break;
                    }
                    if b == b'"' {
                        return Err(format!("quote inside an unquoted field at offset {pos}"));
                    }
                    value.push(b);
                    pos += 1;
                }
            }
            fields.push(Field {
                raw: field_start..pos,
                value,
                quoted,
            });
            if text.get(pos) == Some(&b',') {
                pos += 1;
                continue;
            }
            break;
        }
        pos += line_break(text, pos).unwrap_or(0);
        rows.push(Row {
            fields,
            line: start..pos,
        });
    }
    Ok(rows)
}

/// The length of the line break at `pos`, if one starts there.
fn line_break(text: &[u8], pos: usize) -> Option<usize> {
    match text.get(pos) {
        Some(b'\r') if text.get(pos + 1) == Some(&b'\n') => Some(2),
        Some(b'\r' | b'\n') => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keeps_spans_and_quotes() {
        let text = b"a/b.py,sha256=x,12\r\n\"c,d.mo\",\"sha256=y\",3\nRECORD,,\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].fields[0].value, b"a/b.py");
        assert_eq!(&text[rows[0].line.clone()], b"a/b.py,sha256=x,12\r\n");
        assert_eq!(rows[1].fields[0].value, b"c,d.mo");
        assert!(rows[1].fields[1].quoted);
        assert_eq!(&text[rows[1].fields[1].raw.clone()], b"\"sha256=y\"");
        assert_eq!(rows[2].fields.len(), 3);
        assert!(rows[2].fields[2].value.is_empty());
        assert!(parse_csv(b"\"open,x\n").is_err());
        assert!(parse_csv(b"\"a\"b,c\n").is_err());
    }

    #[test]
    fn digests_are_urlsafe_without_padding() {
        // python: base64.urlsafe_b64encode(hashlib.sha256(b"").digest()).rstrip(b"=")
        assert_eq!(
            digest("sha256", b"").unwrap(),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert!(digest("md5", b"").is_none());
    }

    #[test]
    fn a_dropped_member_loses_its_row() {
        use super::super::zipgen::{self, Member, Options};
        use crate::config::Config;
        use std::path::Path;
        let record = b"w/a.py,sha256=x,1\nw/b.class,sha256=y,2\nw-1.dist-info/RECORD,,\n";
        let zip = zipgen::build(
            &[
                Member::file("w/a.py", b"a", 315_532_800),
                Member::file("w/b.class", b"bb", 315_532_800),
                Member::file("w-1.dist-info/RECORD", record, 315_532_800),
            ],
            &Options::default(),
        );
        let config = Config::default();
        let ctx = config.context(Path::new("w.whl"));
        let archive = Archive::parse(&zip).unwrap();
        let mut plan = archive.plan(&ctx).unwrap();
        // A plan that drops w/b.class, as entry filtering would.
        plan.entries
            .retain(|p| archive.name(&archive.entries[p.index]) != b"w/b.class");
        update(&archive, &mut plan).unwrap();
        // (Writing a plan with fewer entries is the filtering's job; the
        // new RECORD content is read from the plan.)
        let p = plan
            .entries
            .iter()
            .find(|p| archive.name(&archive.entries[p.index]) == b"w-1.dist-info/RECORD")
            .unwrap();
        let new = p.new_data.as_ref().expect("RECORD rewritten");
        let content = plain(&archive, p.index, new, &mut Inflater::new()).unwrap();
        assert_eq!(content, b"w/a.py,sha256=x,1\nw-1.dist-info/RECORD,,\n");
        assert!(
            plan.changes
                .iter()
                .any(|c| c.to_string().contains("row of dropped w/b.class removed"))
        );
    }

    #[test]
    fn only_top_level_records_count() {
        assert!(is_record(b"foo-1.0.dist-info/RECORD"));
        assert!(!is_record(b"vendor/foo-1.0.dist-info/RECORD"));
        assert!(!is_record(b".dist-info/RECORD"));
        assert!(is_record_signature(b"foo-1.0.dist-info/RECORD.jws"));
        assert!(!is_record_signature(b"foo-1.0.dist-info/RECORD"));
    }
}
