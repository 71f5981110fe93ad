//! A minimal, bounds-checked flatbuffer reader: just what reading a `.tflite` file needs.
//!
//! Every offset is checked against the buffer, so a malformed or hostile file gives an error,
//! never a panic or an out-of-bounds read. (Written here rather than using generated code so
//! that no `unsafe` accessor ever touches an untrusted file.)

use crate::error::{Result, ToolsError};

fn bad(what: impl Into<String>) -> ToolsError {
    ToolsError::TfliteFormat(what.into())
}

fn bytes<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N]> {
    pos.checked_add(N)
        .and_then(|end| buf.get(pos..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad(format!("offset {pos} is past the end of the file ({} bytes)", buf.len())))
}

pub(super) fn u8_at(buf: &[u8], pos: usize) -> Result<u8> {
    Ok(bytes::<1>(buf, pos)?[0])
}
pub(super) fn u16_at(buf: &[u8], pos: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(bytes(buf, pos)?))
}
pub(super) fn u32_at(buf: &[u8], pos: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(bytes(buf, pos)?))
}
pub(super) fn i32_at(buf: &[u8], pos: usize) -> Result<i32> {
    Ok(i32::from_le_bytes(bytes(buf, pos)?))
}
pub(super) fn i64_at(buf: &[u8], pos: usize) -> Result<i64> {
    Ok(i64::from_le_bytes(bytes(buf, pos)?))
}
pub(super) fn f32_at(buf: &[u8], pos: usize) -> Result<f32> {
    Ok(f32::from_le_bytes(bytes(buf, pos)?))
}

/// Follows a `uoffset` stored at `pos`.
fn follow(buf: &[u8], pos: usize) -> Result<usize> {
    pos.checked_add(u32_at(buf, pos)? as usize).ok_or_else(|| bad("offset overflow"))
}

/// A table: its position and its vtable.
#[derive(Debug, Clone, Copy)]
pub(super) struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a flatbuffer.
    pub(super) fn root(buf: &'a [u8]) -> Result<Table<'a>> {
        Table::at(buf, follow(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Table<'a>> {
        let vtable = (pos as i64) - i64::from(i32_at(buf, pos)?);
        let vtable = usize::try_from(vtable).map_err(|_| bad("vtable offset out of range"))?;
        let vtable_len = usize::from(u16_at(buf, vtable)?);
        if vtable_len < 4 || vtable.checked_add(vtable_len).is_none_or(|end| end > buf.len()) {
            return Err(bad(format!("vtable at {vtable} has a bad length {vtable_len}")));
        }
        Ok(Table { buf, pos, vtable, vtable_len })
    }

    /// Where field `id` is stored, if present.
    fn field(&self, id: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = u16_at(self.buf, self.vtable + slot)?;
        Ok((off != 0).then_some(self.pos + usize::from(off)))
    }

    pub(super) fn u8(&self, id: usize, default: u8) -> Result<u8> {
        self.field(id)?.map_or(Ok(default), |p| u8_at(self.buf, p))
    }
    pub(super) fn i8(&self, id: usize, default: i8) -> Result<i8> {
        Ok(self.u8(id, default as u8)? as i8)
    }
    pub(super) fn i32(&self, id: usize, default: i32) -> Result<i32> {
        self.field(id)?.map_or(Ok(default), |p| i32_at(self.buf, p))
    }
    pub(super) fn u32(&self, id: usize, default: u32) -> Result<u32> {
        self.field(id)?.map_or(Ok(default), |p| u32_at(self.buf, p))
    }
    pub(super) fn f32(&self, id: usize, default: f32) -> Result<f32> {
        self.field(id)?.map_or(Ok(default), |p| f32_at(self.buf, p))
    }

    pub(super) fn table(&self, id: usize) -> Result<Option<Table<'a>>> {
        match self.field(id)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    pub(super) fn vector(&self, id: usize, elem_size: usize) -> Result<Option<Vector<'a>>> {
        let Some(p) = self.field(id)? else { return Ok(None) };
        let start = follow(self.buf, p)?;
        let len = u32_at(self.buf, start)? as usize;
        let data = start + 4;
        let end = len.checked_mul(elem_size).and_then(|n| n.checked_add(data));
        if end.is_none_or(|e| e > self.buf.len()) {
            return Err(bad(format!("vector at {start} of {len} elements runs past the end of the file")));
        }
        Ok(Some(Vector { buf: self.buf, data, len }))
    }

    pub(super) fn string(&self, id: usize) -> Result<Option<String>> {
        Ok(self.vector(id, 1)?.map(|v| String::from_utf8_lossy(v.bytes()).into_owned()))
    }
}

/// A vector of scalars or of tables.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vector<'a> {
    buf: &'a [u8],
    data: usize,
    len: usize,
}

impl<'a> Vector<'a> {
    pub(super) fn bytes(&self) -> &'a [u8] {
        &self.buf[self.data..self.data + self.len]
    }
    pub(super) fn i32s(&self) -> Result<Vec<i32>> {
        (0..self.len).map(|i| i32_at(self.buf, self.data + 4 * i)).collect()
    }
    pub(super) fn f32s(&self) -> Result<Vec<f32>> {
        (0..self.len).map(|i| f32_at(self.buf, self.data + 4 * i)).collect()
    }
    pub(super) fn i64s(&self) -> Result<Vec<i64>> {
        (0..self.len).map(|i| i64_at(self.buf, self.data + 8 * i)).collect()
    }
    pub(super) fn tables(&self) -> Result<Vec<Table<'a>>> {
        (0..self.len).map(|i| Table::at(self.buf, follow(self.buf, self.data + 4 * i)?)).collect()
    }
}
