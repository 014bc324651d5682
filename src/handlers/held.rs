//! Where a compressed container keeps the payload it expanded (gzip, xz,
//! bzip2, zstd): in memory up to `in_memory`, in scratch space beyond it
//! when the handler that claimed the payload streams; and how that payload
//! goes back through the dispatcher.

use std::borrow::Cow;
use std::io::{self, Write};
use std::ops::Range;
use std::path::Path;

use crate::handler::{
    COPY_CHUNK, Change, Context, FormatError, Nested, NestedWritten, Scratch, Sink, Source,
};

/// An expanded payload, or a payload's rewrite.
pub(crate) enum Held {
    Memory(Vec<u8>),
    Scratch(Box<dyn Scratch>),
}

impl Held {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Held::Memory(v) => v.len() as u64,
            Held::Scratch(s) => s.len(),
        }
    }

    pub(crate) fn source(&self) -> &dyn Source {
        match self {
            Held::Memory(v) => v,
            Held::Scratch(s) => &**s,
        }
    }

    pub(crate) fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Held::Memory(v) => v,
            Held::Scratch(s) => &mut **s,
        }
    }

    /// Makes what was written readable by position.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self {
            Held::Memory(_) => Ok(()),
            Held::Scratch(s) => s.finish(),
        }
    }

    /// A new, empty one: scratch space when there is some, else memory.
    pub(crate) fn new(ctx: &Context) -> Self {
        ctx.spill
            .scratch()
            .map_or_else(|_| Held::Memory(Vec::new()), Held::Scratch)
    }

    /// Where a payload expanded from `packed` bytes of compressed data
    /// begins, `head` its first bytes: in scratch space when `spill` and
    /// `packed` alone passes `in_memory`, since a payload is rarely smaller
    /// than its compressed form (stored blocks add a few bytes; only
    /// trailing data makes the input longer). Such a payload would
    /// otherwise be held up to `in_memory`, and its buffer grown by copying
    /// (half of it again, briefly), only to move to scratch space after
    /// all. Either place gives the same rewrite.
    pub(crate) fn start(
        head: Vec<u8>,
        packed: u64,
        spill: bool,
        ctx: &Context,
    ) -> io::Result<Self> {
        let mut payload = Held::Memory(head);
        if spill && packed > ctx.settings.in_memory {
            payload.move_to_scratch(ctx)?;
        }
        Ok(payload)
    }

    /// Moves what is held in memory to scratch space, when there is some.
    /// Contexts made outside a run have none: the payload then stays.
    pub(crate) fn move_to_scratch(&mut self, ctx: &Context) -> io::Result<()> {
        if let Held::Memory(v) = self {
            if let Ok(mut s) = ctx.spill.scratch() {
                s.write_all(v)?;
                *self = Held::Scratch(s);
            }
        }
        Ok(())
    }

    /// Appends `b`, moving what is held to scratch space first when `spill`
    /// and it grows past `in_memory`. Held in memory under `spill`, the
    /// buffer is never given room past `in_memory`.
    pub(crate) fn grow(&mut self, b: &[u8], spill: bool, ctx: &Context) -> io::Result<()> {
        if let Held::Memory(v) = self {
            let want = v.len() + b.len();
            let cap = usize::try_from(ctx.settings.in_memory).unwrap_or(usize::MAX);
            if spill && want > cap {
                self.move_to_scratch(ctx)?;
            } else if spill && want > v.capacity() {
                let room = want.max(v.capacity().saturating_mul(2)).min(cap);
                v.reserve_exact(room - v.len());
            }
        }
        self.sink().write_all(b)
    }

    /// Hands the payload to the dispatcher under `inner`: its rewrite and
    /// the changes, or `None` when it stays as it is (unclaimed, unchanged,
    /// or left untouched, which the dispatcher reports).
    pub(crate) fn rewritten(
        &mut self,
        ctx: &Context,
        inner: &Context,
    ) -> Result<Option<(Held, Vec<Change>)>, FormatError> {
        match self {
            Held::Memory(v) => match inner.dispatch.member(v, inner) {
                Nested::Rewritten { bytes, changes, .. } => {
                    Ok(Some((Held::Memory(bytes), changes)))
                }
                _ => Ok(None),
            },
            Held::Scratch(s) => {
                s.finish().map_err(|e| scratch_failed(&e))?;
                let mut out = Held::new(ctx);
                match inner.dispatch.member_to(&**s, out.sink(), inner) {
                    NestedWritten::Rewritten(_, changes) => {
                        out.finish().map_err(|e| scratch_failed(&e))?;
                        Ok(Some((out, changes)))
                    }
                    _ => Ok(None),
                }
            }
        }
    }
}

/// A read of an archive's input that failed or ran out.
pub(crate) fn read_failed(offset: usize, e: &io::Error) -> FormatError {
    FormatError::malformed(format!("cannot read at offset {offset}: {e}"))
}

/// `range` of `input`: borrowed when the input is in memory, else read.
pub(crate) fn read(input: &dyn Source, range: Range<usize>) -> Result<Cow<'_, [u8]>, FormatError> {
    if let Some(all) = input.as_slice() {
        return all
            .get(range.clone())
            .map(Cow::Borrowed)
            .ok_or_else(|| read_failed(range.start, &io::ErrorKind::UnexpectedEof.into()));
    }
    input
        .read_vec(range.start as u64, range.len())
        .map(Cow::Owned)
        .map_err(|e| read_failed(range.start, &e))
}

/// A range of a [`Source`]: a member's data.
pub(crate) struct Slice<'a> {
    pub(crate) src: &'a dyn Source,
    pub(crate) range: Range<usize>,
}

impl Source for Slice<'_> {
    fn len(&self) -> u64 {
        self.range.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.src.read_at(self.range.start as u64 + offset, buf)
    }

    fn as_slice(&self) -> Option<&[u8]> {
        self.src.as_slice().and_then(|s| s.get(self.range.clone()))
    }
}

/// What the dispatcher makes of an archive member's data, `data` of
/// `input` (tar, ar): up to `in_memory` read into memory, as
/// [`Context::member`] takes it; larger ones read by position and written
/// to scratch space. `None` when it stays as it is; the nested changes go
/// to `nested`.
pub(crate) fn dispatch_member(
    input: &dyn Source,
    data: Range<usize>,
    name: &Path,
    ctx: &Context,
    nested: &mut Vec<Change>,
) -> Result<Option<Held>, FormatError> {
    if data.len() as u64 <= ctx.settings.in_memory {
        let bytes = read(input, data)?;
        if let Nested::Rewritten {
            bytes,
            changes: inner,
            ..
        } = ctx.member(name, &bytes)
        {
            nested.extend(inner);
            return Ok(Some(Held::Memory(bytes)));
        }
        return Ok(None);
    }
    let slice = Slice {
        src: input,
        range: data,
    };
    let member_ctx = ctx.nested(name);
    let mut out = Held::new(ctx);
    if let NestedWritten::Rewritten(_, inner) =
        ctx.dispatch.member_to(&slice, out.sink(), &member_ctx)
    {
        out.finish().map_err(|e| write_failed(&e))?;
        nested.extend(inner);
        return Ok(Some(out));
    }
    Ok(None)
}

/// An archive's output, and whether it is still byte for byte the input (so
/// an archive with nothing to change is left alone without holding either
/// whole): tar, cpio.
pub(crate) struct Out<'a> {
    pub(crate) sink: &'a mut dyn Sink,
    pub(crate) input: &'a dyn Source,
    pub(crate) pos: u64,
    pub(crate) same: bool,
}

/// The new archive could not be written (scratch space or the temp file).
pub(crate) fn write_failed(e: &io::Error) -> FormatError {
    FormatError::TooLarge(format!("cannot write the new archive: {e}"))
}

impl Out<'_> {
    /// An output at the start of `sink`, the same as `input` so far.
    pub(crate) fn new<'a>(sink: &'a mut dyn Sink, input: &'a dyn Source) -> Out<'a> {
        Out {
            sink,
            input,
            pos: 0,
            same: true,
        }
    }

    /// Writes new bytes (a header, pax records).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        if self.same {
            let mut old = vec![0; bytes.len()];
            self.same = self.input.read_at(self.pos, &mut old).is_ok() && old == bytes;
        }
        self.sink.write_all(bytes).map_err(|e| write_failed(&e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Copies `len` input bytes from `offset`.
    pub(crate) fn copy(&mut self, offset: usize, len: usize) -> Result<(), FormatError> {
        self.same &= offset as u64 == self.pos;
        self.sink
            .copy_from(self.input, offset as u64, len as u64)
            .map_err(|e| read_failed(offset, &e))?;
        self.pos += len as u64;
        Ok(())
    }

    /// Copies a member's new contents; the output is then taken to differ.
    pub(crate) fn copy_new(&mut self, src: &dyn Source) -> Result<(), FormatError> {
        self.same = false;
        self.copy_from(src)
    }

    /// Copies a member's new contents, which may still be the bytes the
    /// input has here (compared while the output is the same so far).
    pub(crate) fn copy_new_compared(&mut self, src: &dyn Source) -> Result<(), FormatError> {
        if self.same {
            let at = usize::try_from(self.pos).unwrap_or(usize::MAX);
            let end = at.saturating_add(usize::try_from(src.len()).unwrap_or(usize::MAX));
            self.same = end as u64 <= self.input.len() && same_bytes(self.input, at..end, src)?;
        }
        self.copy_from(src)
    }

    fn copy_from(&mut self, src: &dyn Source) -> Result<(), FormatError> {
        self.sink
            .copy_from(src, 0, src.len())
            .map_err(|e| write_failed(&e))?;
        self.pos += src.len();
        Ok(())
    }

    /// `n` zero bytes.
    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), FormatError> {
        const ZEROS: [u8; 512] = [0; 512];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len());
            self.write(&ZEROS[..k])?;
            left -= k;
        }
        Ok(())
    }
}

/// Whether `range` of `input` holds the bytes of `new`, compared a chunk at
/// a time.
pub(crate) fn same_bytes(
    input: &dyn Source,
    range: Range<usize>,
    new: &dyn Source,
) -> Result<bool, FormatError> {
    if range.len() as u64 != new.len() {
        return Ok(false);
    }
    let mut at = 0;
    while at < range.len() {
        let step = COPY_CHUNK.min(range.len() - at);
        let old = read(input, range.start + at..range.start + at + step)?;
        let now = new
            .read_vec(at as u64, step)
            .map_err(|e| read_failed(at, &e))?;
        if old.as_ref() != now.as_slice() {
            return Ok(false);
        }
        at += step;
    }
    Ok(true)
}

/// Scratch space that failed: the file is left as it is, reported.
pub(crate) fn scratch_failed(e: &io::Error) -> FormatError {
    FormatError::TooLarge(format!("scratch space for the payload failed: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::handler::{NoDispatch, Settings};
    use crate::stream::TempSpill;

    fn settings(in_memory: u64) -> Settings {
        Settings {
            in_memory,
            ..Settings::default()
        }
    }

    #[test]
    fn a_payload_whose_compressed_form_passes_in_memory_starts_in_scratch_space() {
        let s = settings(1000);
        let mut ctx = Context::new(&s, &NoDispatch, Path::new("x"));
        ctx.spill = &TempSpill;
        let mut big = Held::start(b"head".to_vec(), 1001, true, &ctx).unwrap();
        assert!(matches!(big, Held::Scratch(_)));
        big.finish().unwrap();
        assert_eq!(big.source().read_vec(0, 4).unwrap(), b"head");
        let small = Held::start(b"head".to_vec(), 1000, true, &ctx).unwrap();
        assert!(matches!(small, Held::Memory(_)));
        let kept = Held::start(b"head".to_vec(), 5000, false, &ctx).unwrap();
        assert!(
            matches!(kept, Held::Memory(_)),
            "a handler that does not stream gets memory"
        );
    }

    #[test]
    fn a_growing_payload_is_never_given_room_past_in_memory_and_then_spills() {
        let s = settings(3000);
        let mut ctx = Context::new(&s, &NoDispatch, Path::new("x"));
        ctx.spill = &TempSpill;
        let mut held = Held::Memory(Vec::new());
        let mut all = Vec::new();
        for i in 0..30u8 {
            let piece = [i; 100];
            held.grow(&piece, true, &ctx).unwrap();
            all.extend_from_slice(&piece);
            match &held {
                Held::Memory(v) => assert!(v.capacity() <= 3000, "room {}", v.capacity()),
                Held::Scratch(_) => panic!("spilled at {} bytes", all.len()),
            }
        }
        held.grow(&[7], true, &ctx).unwrap();
        all.push(7);
        assert!(
            matches!(held, Held::Scratch(_)),
            "3001 bytes stay in memory"
        );
        held.finish().unwrap();
        assert_eq!(held.source().read_vec(0, all.len()).unwrap(), all);
    }
}
