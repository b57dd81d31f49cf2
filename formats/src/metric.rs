use serde::{Deserialize, Serialize};

use crate::FormatError;

/// The similarity measure of a database; fixed at creation.
///
/// Internally every index ranks by a *distance* where smaller is closer:
/// `L2` is the squared Euclidean distance, `InnerProduct` is `1 - <a, b>`, and `Cosine`
/// normalises vectors at insert and at query time and then uses `1 - <a, b>` (so the
/// distance is `1 - cos(a, b)`, in `[0, 2]`). This is the convention of hnswlib.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Inner product, as the distance `1 - <a, b>`.
    InnerProduct,
    /// Cosine similarity, as the distance `1 - cos(a, b)` (vectors are stored normalised).
    Cosine,
}

impl Metric {
    /// The one-byte code used in segment headers.
    pub fn code(self) -> u8 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
        }
    }

    /// Decodes a one-byte code written by [`Metric::code`].
    ///
    /// # Errors
    /// [`FormatError::Invalid`] for an unknown code.
    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        match code {
            1 => Ok(Metric::L2),
            2 => Ok(Metric::InnerProduct),
            3 => Ok(Metric::Cosine),
            other => Err(FormatError::invalid(format!("metric code {other}"))),
        }
    }

    /// Lower-case name: `l2`, `ip` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Metric::L2),
            "ip" | "dot" | "inner_product" => Ok(Metric::InnerProduct),
            "cosine" | "angular" => Ok(Metric::Cosine),
            other => Err(FormatError::invalid(format!("metric name {other:?} (use l2, ip or cosine)"))),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
