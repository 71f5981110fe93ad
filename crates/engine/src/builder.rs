//! A small helper for assembling a [`Model`] in code: tools and tests use it; the format
//! does not depend on it.

use alloc::vec::Vec;

use crate::model::{FormatVersion, Model, Op, Tensor, TensorId};

/// Collects tensors and ops in order and produces the [`Model`]; it checks nothing
/// ([`crate::validate`] and [`crate::encode`] do).
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    version: FormatVersion,
    tensors: Vec<Tensor>,
    ops: Vec<Op>,
}

impl ModelBuilder {
    /// A builder for a model of format `version`.
    pub fn new(version: FormatVersion) -> Self {
        Self { version, tensors: Vec::new(), ops: Vec::new() }
    }

    /// Adds a tensor and returns its id. Ids are assigned in order, so a model built the same
    /// way twice encodes to the same bytes.
    pub fn tensor(&mut self, tensor: Tensor) -> TensorId {
        self.tensors.push(tensor);
        (self.tensors.len() - 1) as TensorId
    }

    /// Appends an op; ops run in the order they are added.
    pub fn op(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// The model, with `input` and `output` as its input and output tensors.
    pub fn finish(self, input: TensorId, output: TensorId) -> Model {
        Model { version: self.version, tensors: self.tensors, ops: self.ops, input, output }
    }
}
