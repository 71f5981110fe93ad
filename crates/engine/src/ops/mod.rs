//! The ops: [`reference`] is the specification; [`fast`] runs the same ops through the
//! optimized kernels of `aiop-kernels`. Both must give identical bytes for every valid model.

pub mod fast;
pub mod fixedpoint;
pub mod reference;
