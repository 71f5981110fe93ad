//! Buffers (of bytes, `i16` or `i32`) that start on a cache line.
//!
//! An AMX tile load reads sixteen rows of 64 bytes; a row that straddles two cache lines
//! costs two line reads. With both operands off the line (a heap block is only 16-byte
//! aligned), a 2x2 step of tiles took 2.7x as long as with both on it (73 ns against 27 ns
//! on Sapphire Rapids). Alignment changes no value, only the speed of the loads.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

/// The alignment, in bytes, of a [`LineAligned`] buffer's first byte: a cache line.
pub(crate) const LINE: usize = 64;

/// `len` values whose first byte lies on a [`LINE`] boundary: a `Vec` up to `LINE - 1` bytes
/// longer than needed, read from the first aligned value. The `Vec` is never grown, so the
/// start never moves.
pub(crate) struct LineAligned<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> LineAligned<T> {
    /// `len` default (zero) values; `None` where they and a line's padding are more than an
    /// allocation may hold (`isize::MAX` bytes).
    pub(crate) fn zeroed(len: usize) -> Option<Self> {
        // A value's size divides the line (1, 2 or 4 bytes here), and a `Vec` aligns its values
        // to their size, so some whole number of them below a line reaches the boundary.
        let size = core::mem::size_of::<T>();
        const { assert!(core::mem::size_of::<T>() > 0 && LINE.is_multiple_of(core::mem::size_of::<T>())) };
        let slack = LINE / size - 1;
        let padded = len
            .checked_add(slack)
            .filter(|&p| p.checked_mul(size).is_some_and(|bytes| bytes <= isize::MAX as usize))?;
        let buf = alloc::vec![T::default(); padded];
        // `align_offset` (in values) may decline (`usize::MAX`); then the buffer starts where
        // it is, unaligned but in bounds.
        let start = buf.as_ptr().align_offset(LINE).min(slack);
        Some(Self { buf, start, len })
    }

    /// A copy of `bytes`, starting on a line.
    pub(crate) fn copy_of(bytes: &[T]) -> Option<Self> {
        let mut out = Self::zeroed(bytes.len())?;
        out.copy_from_slice(bytes);
        Some(out)
    }
}

impl<T> Deref for LineAligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for LineAligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// A clone is a new allocation, aligned on its own (a `Vec` clone would keep the old offset
/// into a block that may start elsewhere).
impl<T: Copy + Default> Clone for LineAligned<T> {
    fn clone(&self) -> Self {
        // `copy_of` refuses only a length `zeroed` refused, so not this one; the fallback (an
        // unaligned copy, as fast as before this type) keeps `clone` free of a panic path.
        Self::copy_of(self).unwrap_or_else(|| Self { buf: self.buf.clone(), start: self.start, len: self.len })
    }
}

impl<T: PartialEq> PartialEq for LineAligned<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for LineAligned<T> {}

impl<T: core::fmt::Debug> core::fmt::Debug for LineAligned<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_line_and_keeps_its_bytes() {
        for len in [0, 1, 63, 64, 65, 4096 + 17] {
            let bytes: Vec<i8> = (0..len).map(|i| (i % 251) as i8).collect();
            let a = LineAligned::copy_of(&bytes).expect("small");
            assert_eq!(&*a, &bytes[..]);
            assert_eq!(a.as_ptr() as usize % LINE, 0, "len {len}");
            let b = a.clone();
            assert_eq!(b, a);
            assert_eq!(b.as_ptr() as usize % LINE, 0, "clone, len {len}");
        }
        assert!(LineAligned::<u8>::zeroed(usize::MAX).is_none());
        for len in [0, 1, 31, 32, 33, 1000] {
            let words: Vec<i32> = (0..len).map(|i| i * 7 - 3).collect();
            let a = LineAligned::copy_of(&words).expect("small");
            assert_eq!(&*a, &words[..]);
            assert_eq!(a.as_ptr() as usize % LINE, 0, "i32, len {len}");
            let pairs = LineAligned::<i16>::zeroed(len as usize).expect("small");
            assert_eq!(pairs.len(), len as usize);
            assert_eq!(pairs.as_ptr() as usize % LINE, 0, "i16, len {len}");
        }
        assert!(LineAligned::<i32>::zeroed(isize::MAX as usize / 4).is_none());
    }
}
