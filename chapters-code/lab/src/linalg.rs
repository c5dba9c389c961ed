//! A little dense linear algebra in f64: eigenvalues of symmetric matrices, and singular values.
//!
//! candle has no eigen-solver or SVD, and the book needs only eigenvalues of symmetric matrices of a
//! few hundred rows (Gram matrices JᵀJ of layer and input–output Jacobians). They come from
//! nalgebra's `SymmetricEigen` (Householder tridiagonalisation, then implicit QR with Wilkinson
//! shifts). The book carried its own Householder + QL solver (EISPACK `tred1`/`tql1`) until it was
//! measured against nalgebra on the sizes the book uses, interleaved in one process: nalgebra was
//! 1.5–2× faster at n = 32…256 with the same eigenvalues (to 1e-14 of λmax), so the library won.
//! Eigenvalues come out with an absolute error of a few ε·‖A‖.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! // The 2×2 symmetric matrix [[2, 1], [1, 2]] has eigenvalues 1 and 3.
//! let values = lab::linalg::symmetric_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2)?;
//! assert!((values[0] - 1.0).abs() < 1e-14 && (values[1] - 3.0).abs() < 1e-14);
//! # Ok(())
//! # }
//! ```

use anyhow::{Result, ensure};

/// The eigenvalues of the symmetric `n × n` matrix `a` (row-major; only symmetry is assumed, the
/// lower triangle is what is read), in ascending order.
pub fn symmetric_eigenvalues(a: &[f64], n: usize) -> Result<Vec<f64>> {
    ensure!(a.len() == n * n, "expected {n}×{n} = {} entries, got {}", n * n, a.len());
    ensure!(a.iter().all(|v| v.is_finite()), "the matrix has a non-finite entry");
    if n == 0 {
        return Ok(Vec::new());
    }
    // nalgebra reads the lower triangle, as this function promises.
    let matrix = nalgebra::DMatrix::from_row_slice(n, n, a);
    let mut values: Vec<f64> = matrix.symmetric_eigenvalues().iter().copied().collect();
    values.sort_by(f64::total_cmp);
    Ok(values)
}

/// The Gram matrix of the smaller side of a row-major `rows × cols` matrix: `A Aᵀ` (rows ≤ cols) or
/// `Aᵀ A`, whose eigenvalues are the squared singular values of `A`.
pub fn small_gram(a: &[f64], rows: usize, cols: usize) -> Result<(Vec<f64>, usize)> {
    ensure!(a.len() == rows * cols, "expected {rows}×{cols} = {} entries, got {}", rows * cols, a.len());
    let k = rows.min(cols);
    let mut g = vec![0.0; k * k];
    if rows <= cols {
        for i in 0..rows {
            for j in 0..=i {
                let (ri, rj) = (&a[i * cols..(i + 1) * cols], &a[j * cols..(j + 1) * cols]);
                let dot: f64 = ri.iter().zip(rj).map(|(x, y)| x * y).sum();
                g[i * k + j] = dot;
                g[j * k + i] = dot;
            }
        }
    } else {
        // Aᵀ A, accumulated row by row of A (contiguous access).
        for r in 0..rows {
            let row = &a[r * cols..(r + 1) * cols];
            for i in 0..cols {
                let ri = row[i];
                if ri == 0.0 {
                    continue;
                }
                for (gj, rj) in g[i * k..i * k + i + 1].iter_mut().zip(&row[..=i]) {
                    *gj += ri * rj;
                }
            }
        }
        for i in 0..k {
            for j in 0..i {
                g[j * k + i] = g[i * k + j];
            }
        }
    }
    Ok((g, k))
}

/// The singular values of a row-major `rows × cols` matrix, in descending order: the square roots of
/// the eigenvalues of its smaller Gram matrix. Squaring costs precision at the bottom of the spectrum:
/// singular values below about √ε·σ_max ≈ 1.5·10⁻⁸·σ_max are not resolved (they come out as noise of
/// that size, or 0). Statistics that must be exact for ill-conditioned matrices — the mean and variance
/// of the squared singular values — are better computed from traces (see `lab::jacobian`).
pub fn singular_values(a: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    let (g, k) = small_gram(a, rows, cols)?;
    let mut values: Vec<f64> = symmetric_eigenvalues(&g, k)?.into_iter().map(|l| l.max(0.0).sqrt()).collect();
    values.reverse();
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// A random orthogonal matrix, exact to rounding: a product of `n` Householder reflections.
    fn orthogonal(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::init::rng(seed);
        let mut q: Vec<f64> = (0..n * n).map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 }).collect();
        for _ in 0..n {
            let v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
            let vv: f64 = v.iter().map(|x| x * x).sum();
            // q ← q (I − 2vvᵀ/vᵀv)
            for r in 0..n {
                let dot: f64 = (0..n).map(|c| q[r * n + c] * v[c]).sum();
                for c in 0..n {
                    q[r * n + c] -= 2.0 * dot * v[c] / vv;
                }
            }
        }
        q
    }

    /// Q diag(λ) Qᵀ.
    fn with_spectrum(values: &[f64], seed: u64) -> Vec<f64> {
        let n = values.len();
        let q = orthogonal(n, seed);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[i * n + k] * values[k] * q[j * n + k]).sum();
            }
        }
        a
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "eigenvalue {i}: got {g}, want {w} (tol {tol})");
        }
    }

    #[test]
    fn small_cases_in_closed_form() -> Result<()> {
        assert!(symmetric_eigenvalues(&[], 0)?.is_empty());
        assert_eq!(symmetric_eigenvalues(&[-4.5], 1)?, vec![-4.5]);
        // 2×2: (a+c)/2 ± √(((a−c)/2)² + b²).
        let (a, b, c) = (0.3, -1.7, 2.9);
        let mid = (a + c) / 2.0;
        let rad = (((a - c) / 2.0f64).powi(2) + b * b).sqrt();
        assert_close(&symmetric_eigenvalues(&[a, b, b, c], 2)?, &[mid - rad, mid + rad], 1e-14);
        // Diagonal and identity (repeated eigenvalues), zero.
        assert_close(
            &symmetric_eigenvalues(&[3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0], 3)?,
            &[-1.0, 2.0, 3.0],
            0.0,
        );
        let eye: Vec<f64> = (0..25).map(|i| if i % 6 == 0 { 1.0 } else { 0.0 }).collect();
        assert_close(&symmetric_eigenvalues(&eye, 5)?, &[1.0; 5], 1e-15);
        assert_close(&symmetric_eigenvalues(&[0.0; 16], 4)?, &[0.0; 4], 0.0);
        Ok(())
    }

    #[test]
    fn second_difference_matrix() -> Result<()> {
        // tridiag(−1, 2, −1) of size n: λ_k = 2 − 2 cos(kπ/(n+1)).
        let n = 50;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n + i] = 2.0;
            if i + 1 < n {
                a[i * n + i + 1] = -1.0;
                a[(i + 1) * n + i] = -1.0;
            }
        }
        let want: Vec<f64> =
            (1..=n).map(|k| 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos()).collect();
        assert_close(&symmetric_eigenvalues(&a, n)?, &want, 1e-13);
        Ok(())
    }

    #[test]
    fn rotated_spectra_are_recovered() -> Result<()> {
        for (n, seed) in [(3, 1), (17, 2), (64, 3)] {
            let mut rng = crate::init::rng(seed + 100);
            let mut want: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 20.0 - 10.0).collect();
            // A cluster of equal eigenvalues and one tiny one, the hard cases.
            want[0] = 1.5;
            want[1] = 1.5;
            want[2] = 1e-12;
            let a = with_spectrum(&want, seed);
            want.sort_by(f64::total_cmp);
            let got = symmetric_eigenvalues(&a, n)?;
            assert_close(&got, &want, 1e-12 * n as f64);
            // Invariants: trace and Frobenius norm.
            let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
            assert!((got.iter().sum::<f64>() - trace).abs() < 1e-10);
            let frob: f64 = a.iter().map(|x| x * x).sum();
            assert!((got.iter().map(|x| x * x).sum::<f64>() - frob).abs() < 1e-9 * frob);
        }
        Ok(())
    }

    #[test]
    fn singular_values_of_a_constructed_matrix() -> Result<()> {
        // A = U Σ Vᵀ with U 6×6, V 4×4 orthogonal and Σ 6×4 diagonal (3, 2, 0.5, 0).
        let (u, v) = (orthogonal(6, 7), orthogonal(4, 8));
        let sigma = [3.0, 2.0, 0.5, 0.0];
        let mut a = vec![0.0; 24];
        for i in 0..6 {
            for j in 0..4 {
                a[i * 4 + j] = (0..4).map(|k| u[i * 6 + k] * sigma[k] * v[j * 4 + k]).sum();
            }
        }
        let got = singular_values(&a, 6, 4)?;
        assert_close(&got[..3], &sigma[..3], 1e-13);
        assert!(got[3] < 1e-7, "the zero singular value comes out below √ε: {}", got[3]);
        // The transpose has the same singular values.
        let at: Vec<f64> = (0..24).map(|idx| a[(idx % 6) * 4 + idx / 6]).collect();
        assert_close(&singular_values(&at, 4, 6)?[..3], &sigma[..3], 1e-13);
        Ok(())
    }

    #[test]
    fn rejects_bad_input() {
        assert!(symmetric_eigenvalues(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(symmetric_eigenvalues(&[f64::NAN], 1).is_err());
        assert!(singular_values(&[1.0; 5], 2, 3).is_err());
    }
}
