//! NAR serialization and hashing, byte-identical to `nix-store --dump` and
//! `nix hash path`.
//!
//! A NAR is a sequence of strings, each a little-endian u64 length, the bytes
//! and zero padding to a multiple of 8. The tree is written as
//! `nix-archive-1 ( type regular [executable ""] contents <data> )`,
//! `( type symlink target <target> )` or
//! `( type directory entry ( name <n> node <node> ) ... )` with entries sorted by
//! their raw name bytes. Only the owner-execute bit is recorded; mtimes, owners,
//! other mode bits, xattrs and hardlinks are not. The root is never followed if
//! it is a symlink. FIFOs, sockets and devices cannot be represented.
//!
//! The serializer streams: file contents go through a fixed buffer, so memory
//! does not grow with the size of the tree or of any file.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::Error;

const BUF_LEN: usize = 256 * 1024;

/// How `strip-nd hash` prints a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFormat {
    /// `sha256:<nix base32>`, as `nix-store -q --hash` prints it.
    #[default]
    Typed,
    /// Lowercase hex, as `nix-hash --type sha256` prints it.
    Base16,
    /// Nix base32, as `nix-hash --type sha256 --base32` prints it.
    Base32,
    /// `sha256-<base64>`, as `nix hash path` prints it.
    Sri,
}

/// Formats a sha256 digest.
pub fn format_hash(digest: &[u8; 32], format: HashFormat) -> String {
    match format {
        HashFormat::Typed => format!("sha256:{}", nix32(digest)),
        HashFormat::Base16 => digest.iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        }),
        HashFormat::Base32 => nix32(digest),
        HashFormat::Sri => format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
    }
}

/// Nix's base32: the alphabet `0-9a-z` without `e o u t`, read from the end of
/// the digest (this is not RFC 4648).
pub fn nix32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    if bytes.is_empty() {
        return String::new();
    }
    let len = (bytes.len() * 8 - 1) / 5 + 1;
    (0..len)
        .rev()
        .map(|n| {
            let bit = n * 5;
            let (i, j) = (bit / 8, bit % 8);
            let low = u32::from(bytes[i]) >> j;
            let high = bytes.get(i + 1).map_or(0, |&b| u32::from(b) << (8 - j));
            char::from(ALPHABET[((low | high) & 0x1f) as usize])
        })
        .collect()
}

/// The sha256 of the NAR serialization of `path`.
pub fn hash(path: &Path) -> Result<[u8; 32], Error> {
    let mut sink = HashSink(Sha256::new());
    dump(path, &mut sink)?;
    Ok(sink.0.finalize().into())
}

/// Writes the NAR serialization of `path` to `out`.
pub fn dump<W: Write>(path: &Path, out: &mut W) -> Result<(), Error> {
    let mut nar = Nar {
        out,
        buf: vec![0; BUF_LEN],
    };
    nar.str(path, b"nix-archive-1")?;
    nar.node(path)
}

struct HashSink(Sha256);

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Nar<'w, W: Write> {
    out: &'w mut W,
    buf: Vec<u8>,
}

impl<W: Write> Nar<'_, W> {
    fn raw(&mut self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        self.out.write_all(bytes).map_err(|e| Error::io(path, e))
    }

    fn pad(&mut self, path: &Path, len: u64) -> Result<(), Error> {
        let pad = (8 - (len % 8) as usize) % 8;
        self.raw(path, &[0; 8][..pad])
    }

    fn str(&mut self, path: &Path, s: &[u8]) -> Result<(), Error> {
        self.raw(path, &(s.len() as u64).to_le_bytes())?;
        self.raw(path, s)?;
        self.pad(path, s.len() as u64)
    }

    fn strs(&mut self, path: &Path, tokens: &[&[u8]]) -> Result<(), Error> {
        tokens.iter().try_for_each(|t| self.str(path, t))
    }

    fn node(&mut self, path: &Path) -> Result<(), Error> {
        let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
        let ft = meta.file_type();
        self.str(path, b"(")?;
        if ft.is_file() {
            self.strs(path, &[b"type", b"regular"])?;
            if meta.permissions().mode() & 0o100 != 0 {
                self.strs(path, &[b"executable", b""])?;
            }
            self.str(path, b"contents")?;
            self.contents(path, meta.len())?;
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| Error::io(path, e))?;
            self.strs(path, &[b"type", b"symlink", b"target"])?;
            self.str(path, target.as_os_str().as_bytes())?;
        } else if ft.is_dir() {
            self.strs(path, &[b"type", b"directory"])?;
            let mut names: Vec<_> = fs::read_dir(path)
                .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| Error::io(path, e))?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                self.strs(path, &[b"entry", b"(", b"name"])?;
                self.str(path, name.as_bytes())?;
                self.str(path, b"node")?;
                self.node(&path.join(&name))?;
                self.str(path, b")")?;
            }
        } else {
            return Err(Error::NarUnsupported {
                path: path.to_owned(),
                kind: special_kind(ft),
            });
        }
        self.str(path, b")")
    }

    fn contents(&mut self, path: &Path, len: u64) -> Result<(), Error> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        self.raw(path, &len.to_le_bytes())?;
        let mut left = len;
        while left > 0 {
            let want = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => return Err(Error::Changed { path: path.into() }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(path, e)),
            };
            self.out
                .write_all(&self.buf[..n])
                .map_err(|e| Error::io(path, e))?;
            left -= n as u64;
        }
        if file
            .read(&mut self.buf[..1])
            .map_err(|e| Error::io(path, e))?
            != 0
        {
            return Err(Error::Changed { path: path.into() });
        }
        self.pad(path, len)
    }
}

/// A name for a file type that is neither file, directory nor symlink.
pub fn special_kind(ft: fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix32_of_empty_sha256_matches_nix() {
        let d: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            nix32(&d),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            format_hash(&d, HashFormat::Sri),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn a_regular_file_serializes_as_nix_does() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"hello").unwrap();
        let mut out = Vec::new();
        dump(&f, &mut out).unwrap();
        let mut want = Vec::new();
        for s in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hello",
            b")",
        ] {
            want.extend_from_slice(&(s.len() as u64).to_le_bytes());
            want.extend_from_slice(s);
            want.resize(want.len().div_ceil(8) * 8, 0);
        }
        assert_eq!(out, want);
    }
}
