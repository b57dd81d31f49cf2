use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A search result inside one index: a row number and its distance to the query
/// (smaller is closer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Distance to the query (see [`crate::Metric`] for its definition per metric).
    pub distance: f32,
    /// Row within the index (0-based).
    pub row: u32,
}

impl Eq for Candidate {}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.row.cmp(&other.row))
    }
}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Most candidates a collector allocates room for before any is offered.
const PREALLOCATE: usize = 1024;

/// Keeps the `k` closest candidates seen so far (a bounded max-heap).
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    /// An empty collector for the best `k` candidates. Memory grows with the candidates
    /// offered, not with `k` (a caller's `k` may be far larger than the rows there are).
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k.min(PREALLOCATE) + 1) }
    }

    /// Distance a candidate must beat to enter (infinity until `k` are held).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.distance)
        }
    }

    /// Offers a candidate.
    #[inline]
    pub fn push(&mut self, c: Candidate) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if c < *self.heap.peek().expect("heap holds k > 0 items") {
            self.heap.pop();
            self.heap.push(c);
        }
    }

    /// The collected candidates, closest first.
    pub fn into_sorted_vec(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}
