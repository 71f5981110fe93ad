//! Helpers the hand-computed op tests share: build a one-op model, run it on every kernel path.

use aiop_engine::{FormatVersion, KernelPath, LoadedModel, Model, ModelBuilder, Op, Scale, Tensor, TensorId, encode};

/// Runs `model` on `input` on every kernel path this CPU has, asserts they agree, and returns
/// the output.
pub(crate) fn run(model: &Model, input: &[i8]) -> Vec<i8> {
    let bytes = encode(model).expect("valid model");
    let input: Vec<u8> = input.iter().map(|&v| v as u8).collect();
    let mut paths = Vec::new();
    let mut results = KernelPath::available().map(|p| {
        paths.push(p.name());
        let out = LoadedModel::load(&bytes, p).unwrap().run(&input).unwrap();
        out.into_iter().map(|b| b as i8).collect::<Vec<i8>>()
    });
    let first = results.next().unwrap();
    for other in results {
        assert_eq!(other, first, "kernel paths disagree");
    }
    eprintln!("kernel paths run: {paths:?}");
    first
}

/// An int8 activation of `shape` with zero point `zp`.
pub(crate) fn act(b: &mut ModelBuilder, shape: &[u32], zp: i32) -> TensorId {
    b.tensor(Tensor::activation(shape, zp, Scale::default()))
}

/// A format `version` model of one op from `x` (shape `in_shape`, zero point `zp_in`) to `y`.
pub(crate) fn unary(
    version: FormatVersion,
    in_shape: &[u32],
    zp_in: i32,
    out_shape: &[u32],
    zp_out: i32,
    op: impl Fn(u16, u16) -> Op,
) -> Model {
    let mut b = ModelBuilder::new(version);
    let x = act(&mut b, in_shape, zp_in);
    let y = act(&mut b, out_shape, zp_out);
    b.op(op(x, y));
    b.finish(x, y)
}
