//! A small helper for assembling a [`Model`] in code: tools and tests use it; the format
//! does not depend on it.

use alloc::vec::Vec;

use crate::model::{Model, Op, Tensor, TensorId};

#[derive(Debug, Default, Clone)]
pub struct ModelBuilder {
    tensors: Vec<Tensor>,
    ops: Vec<Op>,
}

impl ModelBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor and returns its id. Ids are assigned in order, so a model built the same
    /// way twice encodes to the same bytes.
    pub fn tensor(&mut self, tensor: Tensor) -> TensorId {
        self.tensors.push(tensor);
        (self.tensors.len() - 1) as TensorId
    }

    pub fn op(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    pub fn finish(self, input: TensorId, output: TensorId) -> Model {
        Model { tensors: self.tensors, ops: self.ops, input, output }
    }
}
