//! Small cases for every op whose answers were worked out by hand (the arithmetic is in the
//! comments), run on every kernel path this CPU has.

use aiop_engine::{
    Clamp, ConvWindow, DType, KernelPath, LoadedModel, Model, ModelBuilder, Op, Padding, PoolWindow, Scale, Tensor,
    encode,
};

/// 0.5, 1.0 and 2.0 as Scales (multiplier * 2^(shift - 31)).
const HALF: Scale = Scale::new(1 << 30, 0);
const ONE: Scale = Scale::new(1 << 30, 1);

fn run(model: &Model, input: &[i8]) -> Vec<i8> {
    let bytes = encode(model).expect("valid model");
    let input: Vec<u8> = input.iter().map(|&v| v as u8).collect();
    let mut results = KernelPath::available().map(|p| {
        let out = LoadedModel::load(&bytes, p).unwrap().run(&input).unwrap();
        out.into_iter().map(|b| b as i8).collect::<Vec<i8>>()
    });
    let first = results.next().unwrap();
    for other in results {
        assert_eq!(other, first, "kernel paths disagree");
    }
    first
}

fn act(shape: &[u32], zp: i32) -> Tensor {
    Tensor::activation(shape, zp, Scale::default())
}

fn fully_connected(scale: Scale, clamp: Clamp) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2], 1));
    let w = b.tensor(Tensor::weights(&[2, 2], Scale::default(), vec![2, -3, -2, 3]));
    let bias = b.tensor(Tensor::bias(vec![5, -5], Scale::default()));
    let y = b.tensor(act(&[2], 2));
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias: Some(bias),
        output: y,
        output_scales: vec![scale; 2],
        clamp,
    });
    b.finish(x, y)
}

#[test]
fn fully_connected_rounds_half_up() {
    // x - zp = [2, -2]. Row 0: 5 + 2*2 + (-3)*(-2) = 15; row 1: -5 - 4 - 6 = -15.
    // x 0.5 = 7.5 -> 8 and -7.5 -> -7 (half up); + zero point 2 -> [10, -5].
    assert_eq!(run(&fully_connected(HALF, Clamp::NONE), &[3, -1]), [10, -5]);
    // Scale 1.0: [17, -13].
    assert_eq!(run(&fully_connected(ONE, Clamp::NONE), &[3, -1]), [17, -13]);
    // Fused clamp (ReLU6-like bounds).
    assert_eq!(run(&fully_connected(ONE, Clamp { min: 0, max: 9 }), &[3, -1]), [9, 0]);
}

fn conv(padding: Padding, stride: u16) -> (Model, usize) {
    let out = if padding == Padding::Valid { 2 } else { 3usize.div_ceil(stride as usize) as u32 };
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[3, 3, 1], 0));
    let w = b.tensor(Tensor::weights(&[1, 2, 2, 1], Scale::default(), vec![1, 1, 1, 1]));
    let y = b.tensor(act(&[out, out, 1], 0));
    let window = ConvWindow { stride_h: stride, stride_w: stride, dilation_h: 1, dilation_w: 1, padding };
    b.op(Op::Conv2D {
        input: x,
        weights: w,
        bias: None,
        output: y,
        window,
        output_scales: vec![ONE],
        clamp: Clamp::NONE,
    });
    (b.finish(x, y), out as usize)
}

#[test]
fn conv2d_valid_and_same_padding() {
    let image = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    // VALID 2x2 windows: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9.
    assert_eq!(run(&conv(Padding::Valid, 1).0, &image), [12, 16, 24, 28]);
    // SAME: total padding 1 per axis, all of it after (bottom/right): the last row and
    // column of windows see only part of the image.
    assert_eq!(run(&conv(Padding::Same, 1).0, &image), [12, 16, 9, 24, 28, 15, 15, 17, 9]);
    // SAME stride 2: out 2x2, total padding (2-1)*2 + 2 - 3 = 1, again after.
    assert_eq!(run(&conv(Padding::Same, 2).0, &image), [12, 9, 15, 9]);
}

#[test]
fn conv2d_dilation_and_zero_point() {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[3, 3, 1], -1));
    let w = b.tensor(Tensor::weights(&[1, 2, 2, 1], Scale::default(), vec![1, 2, 3, 4]));
    let y = b.tensor(act(&[1, 1, 1], 0));
    let window = ConvWindow { stride_h: 1, stride_w: 1, dilation_h: 2, dilation_w: 2, padding: Padding::Valid };
    b.op(Op::Conv2D {
        input: x,
        weights: w,
        bias: None,
        output: y,
        window,
        output_scales: vec![ONE],
        clamp: Clamp::NONE,
    });
    // Dilation 2 reads the corners 1, 3, 7, 9; centered (+1): 2, 4, 8, 10.
    // 1*2 + 2*4 + 3*8 + 4*10 = 74.
    assert_eq!(run(&b.finish(x, y), &[1, 2, 3, 4, 5, 6, 7, 8, 9]), [74]);
}

#[test]
fn depthwise_with_depth_multiplier() {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[1, 2, 1], 0));
    let w = b.tensor(Tensor::weights(&[1, 1, 2], Scale::default(), vec![2, -1]));
    let bias = b.tensor(Tensor::bias(vec![1, 1], Scale::default()));
    let y = b.tensor(act(&[1, 2, 2], 0));
    let window = ConvWindow { stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, padding: Padding::Valid };
    b.op(Op::DepthwiseConv2D {
        input: x,
        weights: w,
        bias: Some(bias),
        output: y,
        window,
        depth_multiplier: 2,
        output_scales: vec![ONE; 2],
        clamp: Clamp::NONE,
    });
    // Pixel 3: [1 + 2*3, 1 - 3] = [7, -2]; pixel -4: [-7, 5].
    assert_eq!(run(&b.finish(x, y), &[3, -4]), [7, -2, -7, 5]);
}

fn pool(max: bool, padding: Padding) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2, 3, 1], 0));
    let out_w = if padding == Padding::Valid { 1 } else { 2 };
    let y = b.tensor(act(&[1, out_w, 1], 0));
    let window = PoolWindow { filter_h: 2, filter_w: 2, stride_h: 2, stride_w: 2, padding };
    b.op(if max {
        Op::MaxPool2D { input: x, output: y, window, clamp: Clamp::NONE }
    } else {
        Op::AveragePool2D { input: x, output: y, window, clamp: Clamp::NONE }
    });
    b.finish(x, y)
}

#[test]
fn pooling_counts_only_pixels_inside_the_image() {
    // Image rows [1, -5, 9] and [7, 3, -2].
    let image = [1, -5, 9, 7, 3, -2];
    assert_eq!(run(&pool(true, Padding::Valid), &image), [7]);
    // SAME: the second window hangs off the right edge and sees only 9 and -2.
    assert_eq!(run(&pool(true, Padding::Same), &image), [7, 9]);
    // Averages: (1 - 5 + 7 + 3) / 4 = 1.5 -> 2 (half away from zero); (9 - 2) / 2 = 3.5 -> 4.
    assert_eq!(run(&pool(false, Padding::Same), &image), [2, 4]);
    // Negative halves round away from zero too: -1.5 -> -2, -3.5 -> -4.
    assert_eq!(run(&pool(false, Padding::Same), &[-1, 5, -9, -7, -3, 2]), [-2, -4]);
}

#[test]
fn add_and_mul_rescale_each_input() {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2], 0));
    let y = b.tensor(act(&[2], 5));
    // x + x, each scaled by 1.0 and 0.5 after a left shift of 1 (x2), then by 1.0:
    // 2x*1.0 + 2x*0.5 = 3x; + zero point 5.
    b.op(Op::Add {
        lhs: x,
        rhs: x,
        output: y,
        left_shift: 1,
        lhs_scale: ONE,
        rhs_scale: HALF,
        output_scale: ONE,
        clamp: Clamp::NONE,
    });
    let z = b.tensor(act(&[2], 0));
    // (y - 5) * (x - 0) * 0.5 = 3x * x / 2.
    b.op(Op::Mul { lhs: y, rhs: x, output: z, output_scale: HALF, clamp: Clamp::NONE });
    let model = b.finish(x, z);
    // x = 3: 9 * 3 / 2 = 13.5 -> 14; x = -5: -15 * -5 / 2 = 37.5 -> 38.
    assert_eq!(run(&model, &[3, -5]), [14, 38]);
}

fn unary(op: impl Fn(u16, u16) -> Op, out_zp: i32, len: u32) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[len], 0));
    let y = b.tensor(act(&[len], out_zp));
    b.op(op(x, y));
    b.finish(x, y)
}

#[test]
fn softmax_splits_ties_and_cuts_off_below_diff_min() {
    let softmax = |input, output| Op::Softmax { input, output, beta: Scale::new(1 << 30, 23), diff_min: -100 };
    // Two equal logits: 0.5 each = 128/256 -> 128 - 128 = 0.
    assert_eq!(run(&unary(softmax, -128, 2), &[4, 4]), [0, 0]);
    // A difference of 255 is below diff_min: that element is exactly 0 (-128) and the other
    // takes everything, 256/256, which saturates at 127.
    assert_eq!(run(&unary(softmax, -128, 2), &[127, -128]), [127, -128]);
}

#[test]
fn logistic_and_tanh_centre_and_saturation() {
    // 2^30 * 2^(22 - 31) = 2^21: an input step of 1 becomes 2^21 raw, 1/64 with 4 integer bits.
    let scale = Scale::new(1 << 30, 22);
    let logistic = |input, output| Op::Logistic { input, output, input_scale: scale, input_range_radius: 100 };
    // logistic(0) = 0.5 -> 128 - 128 = 0; |x| >= radius saturates.
    assert_eq!(run(&unary(logistic, -128, 3), &[0, 100, -100]), [0, 127, -128]);
    let tanh = |input, output| Op::Tanh { input, output, input_scale: scale, input_range_radius: 100 };
    assert_eq!(run(&unary(tanh, 0, 3), &[0, 127, -128]), [0, 127, -128]);
    // Odd symmetry inside the range.
    let out = run(&unary(tanh, 0, 2), &[50, -50]);
    assert_eq!(out[0], -out[1]);
}

#[test]
fn argmax_takes_the_first_of_equal_maxima() {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2, 4], 0));
    let y = b.tensor(Tensor { dtype: DType::I32, ..act(&[2], 0) });
    b.op(Op::ArgMax { input: x, output: y });
    let bytes = encode(&b.finish(x, y)).unwrap();
    let input: Vec<u8> = [3i8, 9, 9, 1, -5, -5, -5, -6].iter().map(|&v| v as u8).collect();
    let out = LoadedModel::load(&bytes, KernelPath::Reference).unwrap().run(&input).unwrap();
    // Big-endian int32 indices: 1 and 0.
    assert_eq!(out, [0, 0, 0, 1, 0, 0, 0, 0]);
}

#[test]
fn reshape_keeps_bytes() {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2, 2], 0));
    let y = b.tensor(act(&[4], 0));
    b.op(Op::Reshape { input: x, output: y });
    assert_eq!(run(&b.finish(x, y), &[1, -2, 3, -4]), [1, -2, 3, -4]);
}
