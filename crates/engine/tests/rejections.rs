//! Each way a model can be wrong is refused with an error that names the problem.

use aiop_engine::format::{ModelHeader, encode_with_header};
use aiop_engine::{Clamp, EngineError, KernelPath, LoadedModel, Model, ModelBuilder, Op, Scale, Tensor, check, encode};

fn small_fc(k: u32, weights: Vec<i8>, bias: Option<Vec<i32>>) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[k], 0, Scale::default()));
    let w = b.tensor(Tensor::weights(&[1, k], Scale::default(), weights));
    let bias = bias.map(|v| b.tensor(Tensor::bias(v, Scale::default())));
    let y = b.tensor(Tensor::activation(&[1], 0, Scale::default()));
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias,
        output: y,
        output_scales: vec![Scale::new(1 << 30, 0)],
        clamp: Clamp::NONE,
    });
    b.finish(x, y)
}

fn valid() -> Vec<u8> {
    encode(&small_fc(2, vec![1, 2], Some(vec![3]))).unwrap()
}

fn err(bytes: &[u8]) -> EngineError {
    check(bytes).expect_err("model should be refused")
}

#[test]
fn header_faults() {
    let good = valid();
    assert!(check(&good).is_ok());
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(err(&bad), EngineError::BadMagic);
    let mut bad = good.clone();
    bad[4] = 4;
    assert_eq!(err(&bad), EngineError::UnsupportedVersion(4));
    let mut bad = good.clone();
    bad[5] = 1;
    assert!(matches!(err(&bad), EngineError::NonCanonical { what: "header flags", .. }));
    let mut bad = good.clone();
    bad[52] = 1;
    assert!(matches!(err(&bad), EngineError::NonCanonical { what: "header reserved bytes", .. }));
    assert!(matches!(err(&good[..30]), EngineError::Truncated { .. }));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bad = valid();
    bad.push(0);
    let e = err(&bad);
    assert!(matches!(e, EngineError::TrailingBytes { extra: 1, .. }), "{e}");
}

#[test]
fn a_header_that_misprices_the_model_is_refused() {
    let model = small_fc(2, vec![1, 2], None);
    let honest = ModelHeader::parse(&encode(&model).unwrap()).unwrap();
    let mut cheap = honest;
    cheap.cost.macs -= 1;
    let bytes = encode_with_header(&model, &cheap).unwrap();
    let e = err(&bytes);
    assert_eq!(e, EngineError::HeaderMismatch { field: "MAC count", declared: 1, computed: 2 });
    assert!(e.to_string().contains("MAC count"));
}

#[test]
fn weight_minus_128_is_refused() {
    let e = encode(&small_fc(2, vec![1, -128], None)).unwrap_err();
    assert!(e.to_string().contains("-128"), "{e}");
}

#[test]
fn accumulator_bound_is_enforced_at_the_exact_limit() {
    let k = (i32::MAX as u32) / (127 * 255);
    assert!(encode(&small_fc(k, vec![127; k as usize], None)).is_ok());
    let e = encode(&small_fc(k + 1, vec![127; k as usize + 1], None)).unwrap_err();
    assert!(e.to_string().contains("overflow the int32 accumulator"), "{e}");
    // A bias pushes the same depth over the edge.
    let slack = i32::MAX - (k * 127 * 255) as i32;
    assert!(encode(&small_fc(k, vec![127; k as usize], Some(vec![slack]))).is_ok());
    assert!(encode(&small_fc(k, vec![127; k as usize], Some(vec![-(slack + 1)]))).is_err());
}

#[test]
fn shapes_must_agree() {
    let mut model = small_fc(2, vec![1, 2], None);
    model.tensors[2].shape = vec![2];
    let e = encode(&model).unwrap_err();
    assert!(e.to_string().contains("output shape"), "{e}");
}

#[test]
fn scales_out_of_range_are_refused() {
    let mut model = small_fc(2, vec![1, 2], None);
    if let Op::FullyConnected { output_scales, .. } = &mut model.ops[0] {
        output_scales[0] = Scale::new(1, 31);
    }
    assert!(encode(&model).unwrap_err().to_string().contains("shift 31"));
    if let Op::FullyConnected { output_scales, .. } = &mut model.ops[0] {
        output_scales[0] = Scale::new(-1, 0);
    }
    assert!(encode(&model).unwrap_err().to_string().contains("negative"));
}

#[test]
fn dataflow_rules() {
    // An unused tensor.
    let mut model = small_fc(2, vec![1, 2], None);
    model.tensors.push(Tensor::activation(&[1], 0, Scale::default()));
    assert!(encode(&model).unwrap_err().to_string().contains("no op uses this tensor"));
    // Reading a tensor no op has written.
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[2], 0, Scale::default()));
    let y = b.tensor(Tensor::activation(&[2], 0, Scale::default()));
    let z = b.tensor(Tensor::activation(&[2], 0, Scale::default()));
    b.op(Op::Reshape { input: y, output: z });
    b.op(Op::Reshape { input: x, output: y });
    let e = encode(&b.finish(x, z)).unwrap_err();
    assert!(e.to_string().contains("before any op writes it"), "{e}");
    // One constant shared by two ops.
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[1], 0, Scale::default()));
    let w = b.tensor(Tensor::weights(&[1, 1], Scale::default(), vec![1]));
    let y = b.tensor(Tensor::activation(&[1], 0, Scale::default()));
    let z = b.tensor(Tensor::activation(&[1], 0, Scale::default()));
    let s = vec![Scale::new(1 << 30, 1)];
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias: None,
        output: y,
        output_scales: s.clone(),
        clamp: Clamp::NONE,
    });
    b.op(Op::FullyConnected { input: y, weights: w, bias: None, output: z, output_scales: s, clamp: Clamp::NONE });
    assert!(encode(&b.finish(x, z)).unwrap_err().to_string().contains("each constant belongs to one op"));
}

#[test]
fn wrong_input_length_is_an_error_not_a_panic() {
    let model = LoadedModel::load(&valid(), KernelPath::Reference).unwrap();
    let e = model.run(&[1, 2, 3]).unwrap_err();
    assert_eq!(e.to_string(), "input is 3 bytes; this model takes exactly 2 bytes (an int8 tensor of shape [2])");
}

#[test]
fn forcing_a_path_the_cpu_lacks_is_an_error() {
    for path in KernelPath::ALL {
        let result = LoadedModel::load(&valid(), path);
        assert_eq!(result.is_ok(), path.is_available(), "{path}");
    }
}
