use burn::tensor::{Int, Tensor, backend::Backend};

/// One-hot encodes class indices with the class axis at dim 1.
///
/// - `[N, 1, d1, .., dk]` → `[N, C, d1, .., dk]` when `D2 == D` (the seed's `make_one_hot`);
/// - `[N, d1, .., dk]` → `[N, C, d1, .., dk]` when `D2 == D + 1`.
///
/// `out[n, c, ..] = 1` if `indices[n, ..] == c`, else `0`. Values outside `[0, C)` (e.g. an
/// ignore label such as `255` or `-100`) give an all-zero row instead of an error, which is
/// what masking them out of a Dice loss needs.
///
/// # Panics
///
/// If `D2` is neither `D` nor `D + 1`, if `D2 == D` and dim 1 is not `1`, or if
/// `num_classes == 0`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::one_hot;
///
/// let device = Default::default();
/// let labels = Tensor::<NdArray, 2, Int>::from_ints([[0, 2, 255]], &device); // [N=1, 3]
/// let encoded: Tensor<NdArray, 3> = one_hot(labels, 3); // [1, 3, 3]
/// let expected = [[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]];
/// encoded.into_data().assert_eq(&Tensor::<NdArray, 3>::from_floats(expected, &device).into_data(), true);
/// ```
pub fn one_hot<B: Backend, const D: usize, const D2: usize>(
    indices: Tensor<B, D, Int>,
    num_classes: usize,
) -> Tensor<B, D2> {
    assert!(num_classes > 0, "one_hot: num_classes must be >= 1, got 0");
    let dims = indices.dims();
    let spatial_dims: &[usize] = if D2 == D {
        assert!(
            D >= 2 && dims[1] == 1,
            "one_hot: for an output of the same rank ({D2}) the indices must be [N, 1, ...], got {dims:?}"
        );
        &dims[2..]
    } else {
        assert!(
            D2 == D + 1,
            "one_hot: the output rank must be the input rank ({D}) or one more, got {D2}"
        );
        &dims[1..]
    };
    let mut shape = [0usize; D2];
    shape[0] = dims[0];
    shape[1] = num_classes;
    shape[2..].copy_from_slice(spatial_dims);

    let spatial: usize = spatial_dims.iter().product();
    let full = [dims[0], num_classes, spatial];
    let device = indices.device();
    let indices = indices.reshape([dims[0], 1, spatial]).expand(full);
    let classes = Tensor::<B, 1, Int>::arange(0..num_classes as i64, &device)
        .reshape([1, num_classes, 1])
        .expand(full);
    indices.equal(classes).float().reshape(shape)
}
