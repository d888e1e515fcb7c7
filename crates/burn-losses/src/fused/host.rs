//! The backends whose tensors live in host memory, and how a kernel reads and writes them.

use std::borrow::Cow;

use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

/// Class indices of a host tensor, in the backend's own integer type.
pub(crate) enum HostInts<'a> {
    I64(Cow<'a, [i64]>),
    I32(Cow<'a, [i32]>),
}

/// A backend that keeps f32 tensors in host memory, readable as a contiguous slice.
pub(crate) trait HostBackend: Backend {
    /// The tensor's elements in row-major order (borrowed where the layout allows), `Some`
    /// exactly when its dtype is f32: the dispatcher checks the dtype alone.
    fn floats(tensor: &Self::FloatTensorPrimitive) -> Option<Cow<'_, [f32]>>;
    /// The tensor's elements in row-major order, `Some` exactly when it is `i64` or `i32`.
    fn ints(tensor: &Self::IntTensorPrimitive) -> Option<HostInts<'_>>;
    /// A tensor of `values` with `shape`, on the device of `like`.
    fn from_floats(
        values: Vec<f32>,
        shape: Vec<usize>,
        like: &Self::FloatTensorPrimitive,
    ) -> Self::FloatTensorPrimitive {
        let device = Self::float_device(like);
        Self::float_from_data(TensorData::new(values, shape), &device)
    }
}

#[cfg(feature = "ndarray")]
mod ndarray {
    use std::borrow::Cow;

    use burn::backend::NdArray;
    use burn::backend::ndarray::NdArrayTensor;

    use super::{HostBackend, HostInts};

    /// Borrows a standard-layout array's elements, copies any other's into row-major order.
    macro_rules! contiguous {
        ($storage:expr) => {{
            let view = $storage.view();
            match view.to_slice() {
                Some(slice) => Cow::Borrowed(slice),
                None => Cow::Owned(view.iter().cloned().collect()),
            }
        }};
    }

    impl HostBackend for NdArray<f32> {
        fn floats(tensor: &NdArrayTensor) -> Option<Cow<'_, [f32]>> {
            match tensor {
                NdArrayTensor::F32(storage) => Some(contiguous!(storage)),
                _ => None,
            }
        }

        fn ints(tensor: &NdArrayTensor) -> Option<HostInts<'_>> {
            match tensor {
                NdArrayTensor::I64(storage) => Some(HostInts::I64(contiguous!(storage))),
                NdArrayTensor::I32(storage) => Some(HostInts::I32(contiguous!(storage))),
                _ => None,
            }
        }
    }
}

#[cfg(feature = "flex")]
mod flex {
    use std::borrow::Cow;

    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::DType;

    use super::{HostBackend, HostInts};

    impl HostBackend for Flex {
        fn floats(tensor: &FlexTensor) -> Option<Cow<'_, [f32]>> {
            (tensor.dtype() == DType::F32).then(|| match tensor.as_slice::<f32>() {
                Some(slice) => Cow::Borrowed(slice),
                None => Cow::Owned(tensor.to_contiguous().storage::<f32>().to_vec()),
            })
        }

        fn ints(tensor: &FlexTensor) -> Option<HostInts<'_>> {
            match tensor.dtype() {
                DType::I64 => Some(HostInts::I64(match tensor.as_slice::<i64>() {
                    Some(slice) => Cow::Borrowed(slice),
                    None => Cow::Owned(tensor.to_contiguous().storage::<i64>().to_vec()),
                })),
                DType::I32 => Some(HostInts::I32(match tensor.as_slice::<i32>() {
                    Some(slice) => Cow::Borrowed(slice),
                    None => Cow::Owned(tensor.to_contiguous().storage::<i32>().to_vec()),
                })),
                _ => None,
            }
        }
    }
}
