//! The ops: [`reference`](mod@reference) is the specification of the ops outside `aiop-kernels` (the matrix
//! and convolution ops are specified once, by `aiop_kernels::reference`); [`fast`] runs
//! Conv2D (im2col) and the pools through faster loops. Both must give identical bytes for
//! every valid model.

pub mod fast;
pub mod fixedpoint;
pub mod reference;
