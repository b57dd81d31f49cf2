//! Readers and writers of the texmex vector formats (`.fvecs`, `.ivecs`: each record is a
//! little-endian i32 dimension `d` followed by `d` values) and of 2-D float32 `.npy` arrays.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::{Error, ErrorKind, Result};

/// A row-major matrix read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Values per row.
    pub dim: usize,
    /// `rows × dim` values.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
    /// Row `i` (`dim` values).
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Unavailable };
    Error::new(kind, format!("{}: {e}", path.display()))
}

fn read_records<T>(path: &Path, limit: Option<usize>, decode: fn([u8; 4]) -> T) -> Result<Matrix<T>> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut head = [0u8; 4];
    f.read_exact(&mut head).map_err(|e| io_err(path, e))?;
    let dim = i32::from_le_bytes(head);
    if dim <= 0 || dim > 1 << 20 {
        return Err(Error::new(ErrorKind::Corrupt, format!("{}: record dimension {dim}", path.display())));
    }
    let dim = dim as usize;
    let len = f.metadata().map_err(|e| io_err(path, e))?.len() as usize;
    let rec = 4 + 4 * dim;
    if !len.is_multiple_of(rec) {
        return Err(Error::new(ErrorKind::Corrupt, format!("{}: {len} bytes is not a multiple of {rec}-byte records", path.display())));
    }
    let rows = limit.map_or(len / rec, |l| l.min(len / rec));
    let mut bytes = vec![0u8; rows * rec];
    bytes[..4].copy_from_slice(&head);
    f.read_exact(&mut bytes[4..]).map_err(|e| io_err(path, e))?;
    let mut data = Vec::with_capacity(rows * dim);
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        if r[..4] != head {
            return Err(Error::new(ErrorKind::Corrupt, format!("{}: record {i} has a different dimension", path.display())));
        }
        data.extend(r[4..].chunks_exact(4).map(|c| decode([c[0], c[1], c[2], c[3]])));
    }
    Ok(Matrix { dim, data })
}

/// Reads up to `limit` rows (all when `None`) of an `.fvecs` file.
///
/// # Errors
/// `NotFound`/`Unavailable` for I/O, `Corrupt` for a malformed file.
pub fn read_fvecs(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Matrix<f32>> {
    read_records(path.as_ref(), limit, f32::from_le_bytes)
}

/// Reads up to `limit` rows of an `.ivecs` file.
///
/// # Errors
/// As [`read_fvecs`].
pub fn read_ivecs(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Matrix<i32>> {
    read_records(path.as_ref(), limit, i32::from_le_bytes)
}

fn write_records<T: Copy>(path: &Path, m: &Matrix<T>, enc: fn(T) -> [u8; 4]) -> Result<()> {
    let f = File::create(path).map_err(|e| io_err(path, e))?;
    let mut w = BufWriter::new(f);
    let d = (m.dim as i32).to_le_bytes();
    for r in 0..m.rows() {
        w.write_all(&d).map_err(|e| io_err(path, e))?;
        for v in m.row(r) {
            w.write_all(&enc(*v)).map_err(|e| io_err(path, e))?;
        }
    }
    w.flush().map_err(|e| io_err(path, e))
}

/// Writes an `.fvecs` file.
///
/// # Errors
/// `Unavailable` for I/O errors.
pub fn write_fvecs(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    write_records(path.as_ref(), m, f32::to_le_bytes)
}

/// Writes an `.ivecs` file.
///
/// # Errors
/// `Unavailable` for I/O errors.
pub fn write_ivecs(path: impl AsRef<Path>, m: &Matrix<i32>) -> Result<()> {
    write_records(path.as_ref(), m, i32::to_le_bytes)
}

/// Parses a 2-D little-endian float32 (`<f4`), C-order `.npy` array (format 1.0–3.0).
///
/// # Errors
/// `InvalidArgument` for other dtypes, orders or ranks; `Corrupt` for a malformed file.
pub fn parse_npy_f32(bytes: &[u8]) -> Result<Matrix<f32>> {
    let bad = |m: &str| Error::new(ErrorKind::Corrupt, format!("npy: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("version {v}"))),
    };
    let header = bytes.get(start..start + hlen).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") || !compact.contains("'fortran_order':False") {
        return Err(Error::invalid(format!("npy: only C-order <f4 arrays are supported, header {header}")));
    }
    let shape = compact.split("'shape':(").nth(1).and_then(|s| s.split(')').next()).ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> =
        shape.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().map_err(|_| bad("shape"))).collect::<Result<_>>()?;
    let [rows, dim] = dims[..] else { return Err(Error::invalid(format!("npy: shape ({shape}) is not 2-D"))) };
    let body = &bytes[start + hlen..];
    let needed = rows.checked_mul(dim).and_then(|n| n.checked_mul(4)).ok_or_else(|| bad("shape overflows"))?;
    if body.len() != needed {
        return Err(bad(&format!("body has {} bytes, shape needs {needed}", body.len())));
    }
    Ok(Matrix { dim, data: body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvecs_round_trip_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let m = Matrix { dim: 3, data: (0..12).map(|i| i as f32).collect() };
        write_fvecs(&p, &m).unwrap();
        assert_eq!(read_fvecs(&p, None).unwrap(), m);
        assert_eq!(read_fvecs(&p, Some(2)).unwrap().rows(), 2);
        std::fs::write(&p, [1, 0, 0, 0, 1]).unwrap();
        assert_eq!(read_fvecs(&p, None).unwrap_err().kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn npy_parses_2d_f32() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for v in [1f32, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let m = parse_npy_f32(&b).unwrap();
        assert_eq!((m.dim, m.rows(), m.row(1)), (2, 2, &[3f32, 4.0][..]));
        assert!(parse_npy_f32(&b[..b.len() - 1]).is_err());
    }
}
