//! `--threads` must reach candle before its thread pools exist, so this test runs in its own process
//! (an integration-test binary with a single test): it sets the count, then checks what candle sees
//! and that tensor ops still run, with the same bits on one thread and on two.

use candle_core::{Device, Tensor};

#[test]
fn set_threads_is_what_candle_uses() -> anyhow::Result<()> {
    lab::threads::set_threads(1)?;
    assert_eq!(candle_core::utils::get_num_threads(), 1);
    assert_eq!(std::env::var("CANDLE_NUM_THREADS")?, "1");
    assert_eq!(gemm::get_threading_threshold(), lab::threads::GEMM_SPLIT_MIN_MACS);
    let a = Tensor::ones((64, 64), candle_core::DType::F32, &Device::Cpu)?;
    let s = a.matmul(&a)?.sum_all()?.to_scalar::<f32>()?;
    assert_eq!(s, 64.0 * 64.0 * 64.0);
    assert!(lab::threads::set_threads(0).unwrap_err().to_string().contains("at least 1"));

    // A product above the threshold, on one thread and then split over two by gemm: the same bits
    // (gemm splits by output blocks, never along the summed dimension), so the thread count and
    // the threshold never change a result.
    let macs = 256 * 1024 * 128;
    assert!(macs >= lab::threads::GEMM_SPLIT_MIN_MACS);
    let x = Tensor::randn(0f32, 1.0, (256, 1024), &Device::Cpu)?;
    let w = Tensor::randn(0f32, 1.0, (1024, 128), &Device::Cpu)?;
    let one_thread = x.matmul(&w)?.flatten_all()?.to_vec1::<f32>()?;
    lab::threads::set_threads(2)?;
    let two_threads = x.matmul(&w)?.flatten_all()?.to_vec1::<f32>()?;
    let same_bits = one_thread.iter().zip(&two_threads).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same_bits, "a split product differs from the unsplit one");
    Ok(())
}
