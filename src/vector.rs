//! Validation and preparation of vectors and queries.

use stratovec_indexes::Metric;

use crate::{Error, Result};

/// Checks `v` (dimension, finite values) and returns it prepared for `metric`: normalised to
/// unit length for cosine, unchanged otherwise.
pub(crate) fn prepare(v: &[f32], dim: usize, metric: Metric, what: &str) -> Result<Vec<f32>> {
    let mut out = v.to_vec();
    prepare_in_place(&mut out, dim, metric, what)?;
    Ok(out)
}

/// [`prepare`] on a buffer.
pub(crate) fn prepare_in_place(v: &mut [f32], dim: usize, metric: Metric, what: &str) -> Result<()> {
    if v.len() != dim {
        return Err(Error::invalid(format!("{what} has dimension {}, the database has {dim}", v.len())));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!("{what} has a non-finite value ({}) at index {i}", v[i])));
    }
    if metric == Metric::Cosine {
        let norm = v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(Error::invalid(format!("{what} is a zero vector, which has no cosine direction")));
        }
        v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    }
    Ok(())
}
