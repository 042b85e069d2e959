//! A host's indices as aligned blocks: what it can announce as one prefix
//! per block, and the indices left over.

use crate::layout::VmIndex;

/// An aligned run of `1 << bits` indices starting at `first` (a multiple of
/// the run's size), `bits >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) first: u32,
    pub(crate) bits: u8,
}

/// The largest aligned runs of at least two indices that cover `indices`
/// (sorted, unique), and the indices no such run covers. Alignment is
/// counted from index 0, which is the gateway and never in `indices`, so
/// no run holds it: the pools' network addresses are aligned to the pools'
/// sizes, so an aligned run of indices is one prefix in either pool.
pub(crate) fn aligned_runs(indices: &[VmIndex]) -> (Vec<Run>, Vec<VmIndex>) {
    let mut runs = Vec::new();
    let mut alone = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1].get() == indices[j].get() + 1 {
            j += 1;
        }
        let (lo, hi) = (u64::from(indices[i].get()), u64::from(indices[j].get()));
        let mut x = lo;
        while x <= hi {
            // The widest block starting at x that x is aligned to and that
            // ends by hi.
            let mut bits = x.trailing_zeros().min(32);
            while bits > 0 && x + (1 << bits) - 1 > hi {
                bits -= 1;
            }
            if bits == 0 {
                alone.push(indices[i + usize::try_from(x - lo).expect("a small offset")]);
            } else {
                runs.push(Run {
                    first: u32::try_from(x).expect("an index"),
                    bits: u8::try_from(bits).expect("at most 32"),
                });
            }
            x += 1 << bits;
        }
        i = j + 1;
    }
    (runs, alone)
}
