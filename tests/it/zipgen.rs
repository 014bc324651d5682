//! A small zip writer with knobs for the noise real tools leave (clocks, extra
//! fields, modes, tool versions, member order), for the zip handler's unit
//! tests (`src/handlers/zip.rs` includes this file with `#[path]`), the
//! integration and property tests, and the benches. It writes what APPNOTE
//! describes and nothing clever; real tools' output is covered by the corpus.
#![allow(dead_code)] // each includer uses a different part of it

use std::io::Write;

use flate2::{Compression, write::DeflateEncoder};

/// One member to write.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    /// Deflate (level 6) rather than store.
    pub deflate: bool,
    /// Seconds since 1970, written as a DOS time read as UTC (and in the
    /// extended timestamp when `Options::timestamps`).
    pub mtime: u64,
    /// The Unix mode with its file type, e.g. `0o100644`.
    pub mode: u32,
    /// Sizes and CRC32 in a data descriptor after the data.
    pub descriptor: bool,
}

impl Member {
    pub fn file(name: &str, data: &[u8], mtime: u64) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            deflate: true,
            mtime,
            mode: 0o100_644,
            descriptor: false,
        }
    }

    pub fn dir(name: &str, mtime: u64) -> Self {
        Self {
            data: Vec::new(),
            deflate: false,
            mode: 0o40_755,
            ..Self::file(name, b"", mtime)
        }
    }
}

/// Archive-wide choices.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes before the first local header (a `#!` line, a stub).
    pub prefix: Vec<u8>,
    /// Offsets relative to the start of the zip data, as `cat stub a.zip`
    /// leaves them, instead of the start of the file.
    pub relative_offsets: bool,
    pub comment: Vec<u8>,
    /// UT extra field with mtime, atime and ctime (local), mtime (central).
    pub timestamps: bool,
    /// An Info-ZIP `ux` field with this uid and gid.
    pub ids: Option<(u32, u32)>,
    /// The version byte of "version made by" (zip 3.0 writes 30).
    pub made_by: u8,
    /// zip64 extra fields in every header, and the zip64 end records.
    pub zip64: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            prefix: Vec::new(),
            relative_offsets: false,
            comment: Vec::new(),
            timestamps: false,
            ids: None,
            made_by: 20,
            zip64: false,
        }
    }
}

/// Raw deflate at level 6.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The DOS (date, time) of `t` (1980 to 2107), read as UTC.
pub fn dos(t: u64) -> (u16, u16) {
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days, for dates after 1970.
    let z = t / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u16;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u16;
    let year = (yoe + era * 400 + u64::from(month <= 2)) as u16;
    let date = ((year - 1980) << 9) | (month << 5) | day;
    let time = (((secs / 3600) as u16) << 11)
        | ((((secs / 60) % 60) as u16) << 5)
        | ((secs % 60) / 2) as u16;
    (date, time)
}

fn extra(id: u16, data: &[u8]) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Writes a zip of `members`, in the order given.
pub fn build(members: &[Member], o: &Options) -> Vec<u8> {
    let mut out = o.prefix.clone();
    let base = if o.relative_offsets {
        o.prefix.len() as u64
    } else {
        0
    };
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u64 - base;
        write_member(&mut out, &mut central, m, o, offset);
    }
    let cd_offset = out.len() as u64 - base;
    let cd_size = central.len() as u64;
    out.extend(central);
    let count = members.len() as u64;
    if o.zip64 {
        let record = out.len() as u64 - base;
        out.extend_from_slice(b"PK\x06\x06");
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [count, count, cd_size, cd_offset] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(b"PK\x06\x07\0\0\0\0");
        out.extend_from_slice(&record.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    for _ in 0..2 {
        out.extend_from_slice(&(count as u16).to_le_bytes());
    }
    let (size, offset) = if o.zip64 {
        (u32::MAX, u32::MAX)
    } else {
        (cd_size as u32, cd_offset as u32)
    };
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(o.comment.len() as u16).to_le_bytes());
    out.extend_from_slice(&o.comment);
    out
}

/// The local and central extra fields of a member.
fn extras(m: &Member, o: &Options, csize: u64, offset: u64) -> (Vec<u8>, Vec<u8>) {
    let mut lx = Vec::new();
    let mut cx = Vec::new();
    if o.zip64 {
        // Streaming writers (data descriptor) leave the local sizes zero.
        let known = u64::from(!m.descriptor);
        let mut z = (known * m.data.len() as u64).to_le_bytes().to_vec();
        z.extend_from_slice(&(known * csize).to_le_bytes());
        lx.extend(extra(1, &z));
        let mut z = (m.data.len() as u64).to_le_bytes().to_vec();
        z.extend_from_slice(&csize.to_le_bytes());
        z.extend_from_slice(&offset.to_le_bytes());
        cx.extend(extra(1, &z));
    }
    if o.timestamps {
        let t = (m.mtime as u32).to_le_bytes();
        let mut ut = vec![7];
        for _ in 0..3 {
            ut.extend_from_slice(&t);
        }
        lx.extend(extra(0x5455, &ut));
        cx.extend(extra(0x5455, &[&[7u8][..], &t].concat()));
    }
    if let Some((uid, gid)) = o.ids {
        let mut ux = vec![1, 4];
        ux.extend_from_slice(&uid.to_le_bytes());
        ux.push(4);
        ux.extend_from_slice(&gid.to_le_bytes());
        lx.extend(extra(0x7875, &ux));
        cx.extend(extra(0x7875, &[]));
    }
    (lx, cx)
}

/// Appends a member's local header, data and descriptor to `out`, and its
/// central header to `central`.
fn write_member(out: &mut Vec<u8>, central: &mut Vec<u8>, m: &Member, o: &Options, offset: u64) {
    let body = if m.deflate {
        deflate(&m.data)
    } else {
        m.data.clone()
    };
    let crc = crc32fast::hash(&m.data);
    let (date, time) = dos(m.mtime);
    let method: u16 = if m.deflate { 8 } else { 0 };
    let needed: u16 = if o.zip64 { 45 } else { 20 };
    let flags: u16 = if m.descriptor { 8 } else { 0 };
    let (lx, cx) = extras(m, o, body.len() as u64, offset);
    let (lcrc, lcs, lus) = match (m.descriptor, o.zip64) {
        (true, false) => (0, 0, 0),
        (true, true) => (0, u32::MAX, u32::MAX),
        (false, false) => (crc, body.len() as u32, m.data.len() as u32),
        (false, true) => (crc, u32::MAX, u32::MAX),
    };
    out.extend_from_slice(b"PK\x03\x04");
    for v in [needed, flags, method, time, date] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [lcrc, lcs, lus] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
    out.extend_from_slice(&(lx.len() as u16).to_le_bytes());
    out.extend_from_slice(&m.name);
    out.extend_from_slice(&lx);
    out.extend_from_slice(&body);
    if m.descriptor {
        out.extend_from_slice(b"PK\x07\x08");
        out.extend_from_slice(&crc.to_le_bytes());
        if o.zip64 {
            out.extend_from_slice(&(body.len() as u64).to_le_bytes());
            out.extend_from_slice(&(m.data.len() as u64).to_le_bytes());
        } else {
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        }
    }
    let made_by = (3u16 << 8) | u16::from(o.made_by);
    central.extend_from_slice(b"PK\x01\x02");
    for v in [made_by, needed, flags, method, time, date] {
        central.extend_from_slice(&v.to_le_bytes());
    }
    let (cs, us, off) = if o.zip64 {
        (u32::MAX, u32::MAX, u32::MAX)
    } else {
        (body.len() as u32, m.data.len() as u32, offset as u32)
    };
    for v in [crc, cs, us] {
        central.extend_from_slice(&v.to_le_bytes());
    }
    for v in [m.name.len() as u16, cx.len() as u16, 0, 0, 0] {
        central.extend_from_slice(&v.to_le_bytes());
    }
    let dos_dir: u32 = if m.mode & 0o170_000 == 0o40_000 {
        0x10
    } else {
        0
    };
    central.extend_from_slice(&((m.mode << 16) | dos_dir).to_le_bytes());
    central.extend_from_slice(&off.to_le_bytes());
    central.extend_from_slice(&m.name);
    central.extend_from_slice(&cx);
}

/// Every member of a zip: `(name, content, unix mode)`, in central directory
/// order, read with a minimal independent reader (no comment search, a zip64
/// extra field expected first in the central extra field).
pub fn read(zip: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
    entries(zip)
        .into_iter()
        .map(|e| (e.name, e.content, e.mode))
        .collect()
}

/// The DOS `(date, time)` of every member, `[central, local]`.
pub fn times(zip: &[u8]) -> Vec<[(u16, u16); 2]> {
    entries(zip).into_iter().map(|e| e.times).collect()
}

/// One member as [`entries`] reads it.
pub struct Entry {
    pub name: Vec<u8>,
    pub content: Vec<u8>,
    pub mode: u32,
    pub times: [(u16, u16); 2],
}

/// Every member of a zip, in central directory order (see [`read`]).
pub fn entries(zip: &[u8]) -> Vec<Entry> {
    use std::io::Read;
    let le16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let end = (0..=zip.len() - 22)
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
        .unwrap();
    let mut count = u64::from(le16(zip, end + 10));
    let mut cd_size = u64::from(le32(zip, end + 12));
    let mut cd_end = end;
    if end >= 20 && zip[end - 20..].starts_with(b"PK\x06\x07") {
        let record = end - 20 - 56;
        count = le64(zip, record + 32);
        cd_size = le64(zip, record + 40);
        cd_end = record;
    }
    let cd_start = cd_end - cd_size as usize;
    let recorded = if le32(zip, end + 16) == u32::MAX {
        le64(zip, cd_end + 48)
    } else {
        u64::from(le32(zip, end + 16))
    };
    let base = cd_start as u64 - recorded;
    let mut members = Vec::new();
    let mut pos = cd_start;
    for _ in 0..count {
        let name_len = usize::from(le16(zip, pos + 28));
        let extra_len = usize::from(le16(zip, pos + 30));
        let comment_len = usize::from(le16(zip, pos + 32));
        let name = zip[pos + 46..pos + 46 + name_len].to_vec();
        let mut csize = u64::from(le32(zip, pos + 20));
        let mut offset = u64::from(le32(zip, pos + 42));
        let extra = &zip[pos + 46 + name_len..pos + 46 + name_len + extra_len];
        if csize == u64::from(u32::MAX) || offset == u64::from(u32::MAX) {
            let mut at = 4;
            if le32(zip, pos + 24) == u32::MAX {
                at += 8;
            }
            if csize == u64::from(u32::MAX) {
                csize = le64(extra, at);
                at += 8;
            }
            if offset == u64::from(u32::MAX) {
                offset = le64(extra, at);
            }
        }
        let method = le16(zip, pos + 10);
        let mode = le32(zip, pos + 38) >> 16;
        let local = (offset + base) as usize;
        let data =
            local + 30 + usize::from(le16(zip, local + 26)) + usize::from(le16(zip, local + 28));
        let raw = &zip[data..data + csize as usize];
        let content = if method == 8 {
            let mut v = Vec::new();
            flate2::read::DeflateDecoder::new(raw)
                .read_to_end(&mut v)
                .unwrap();
            v
        } else {
            raw.to_vec()
        };
        let times = [
            (le16(zip, pos + 14), le16(zip, pos + 12)),
            (le16(zip, local + 12), le16(zip, local + 10)),
        ];
        members.push(Entry {
            name,
            content,
            mode,
            times,
        });
        pos += 46 + name_len + extra_len + comment_len;
    }
    members
}
