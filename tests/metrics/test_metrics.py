"""minigen.metrics formulas: FID, IS, KID, precision/recall, SSIM, PSNR against closed forms,
hand-computed values and plain float64 NumPy references."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigen.metrics import (FIDAccumulator, fid, frechet_distance, gaussian_stats,
                             inception_score, kid, precision_recall, psnr, ssim)
from minigen.metrics.ssim import gaussian_window


def random_spd(rng, d, rank=None):
    A = rng.normal(size=(d, rank or d))
    return A @ A.T / d + (0 if rank else 0.1 * np.eye(d))


# ---- FID ------------------------------------------------------------------------------

def test_fid_zero_for_identical_sets():
    feats = np.random.default_rng(0).normal(size=(300, 16))
    assert abs(fid(feats, feats)) < 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2 ** 31 - 1))
def test_frechet_distance_diagonal_gaussians_closed_form(d, seed):
    # d^2 = |mu1 - mu2|^2 + sum (s1 - s2)^2 for S = diag(s^2): the matrices commute.
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    got = frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_frechet_distance_shifted_means_gives_squared_shift():
    rng = np.random.default_rng(1)
    S = random_spd(rng, 6)
    shift = rng.normal(size=6)
    assert frechet_distance(np.zeros(6), S, shift, S) == pytest.approx(shift @ shift, rel=1e-8)


def test_fid_symmetric_and_invariant_to_shared_permutation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10))
    b = rng.normal(size=(150, 10)) @ rng.normal(size=(10, 10)) + 0.3
    perm = rng.permutation(10)
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)
    assert fid(a[:, perm], b[:, perm]) == pytest.approx(fid(a, b), rel=1e-9)
    assert fid(a, b) > 0


def test_frechet_distance_matches_a_direct_general_eigenvalue_route():
    # Independent route (torch-fidelity's): tr sqrt(S1 S2) = sum Re sqrt(eig(S1 S2)), complex.
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    S1, S2 = random_spd(rng, 8), random_spd(rng, 8)
    tr = np.sqrt(np.linalg.eigvals(S1 @ S2).astype(np.complex128)).real.sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(S1) + np.trace(S2) - 2 * tr
    assert frechet_distance(mu1, S1, mu2, S2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_oracle():
    linalg = pytest.importorskip('scipy.linalg')
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(100, 12)), rng.normal(size=(80, 12)) * 1.5 + 0.2
    (mu1, S1), (mu2, S2) = gaussian_stats(a), gaussian_stats(b)
    covmean = linalg.sqrtm(S1 @ S2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2 - 2 * covmean)
    assert fid(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_singular_covariances_are_finite_and_correct():
    # Fewer samples than dimensions: rank-deficient S. Same answer as the complex route.
    rng = np.random.default_rng(5)
    S1, S2 = random_spd(rng, 10, rank=3), random_spd(rng, 10, rank=4)
    tr = np.sqrt(np.linalg.eigvals(S1 @ S2).astype(np.complex128)).real.sum()
    got = frechet_distance(np.zeros(10), S1, np.zeros(10), S2)
    assert np.isfinite(got)
    assert got == pytest.approx(np.trace(S1) + np.trace(S2) - 2 * tr, rel=1e-6, abs=1e-9)
    with pytest.warns(UserWarning, match='samples of 20-dimensional features'):
        assert fid(rng.normal(size=(5, 20)), rng.normal(size=(6, 20))) > 0


def test_fid_warns_with_fewer_samples_than_dimensions_and_says_how_many_are_needed():
    rng = np.random.default_rng(7)
    with pytest.warns(UserWarning, match=r'fid.gaussian_stats: 8 samples of 16-dimensional '
                                         r'features.*at least 17'):
        gaussian_stats(rng.normal(size=(8, 16)))
    with pytest.warns(UserWarning, match=r'FIDAccumulator.stats: 10 samples.*at least 17'):
        FIDAccumulator().update(rng.normal(size=(10, 16))).stats()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # enough samples: silent
        fid(rng.normal(size=(17, 16)), rng.normal(size=(40, 16)))


def test_frechet_distance_rejects_non_covariances_and_bad_shapes():
    with pytest.raises(ValueError, match='positive semi-definite'):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match='frechet_distance'):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match='fid.fid'):
        fid(np.zeros((5, 3)), np.zeros((5, 4)))


def test_fid_accumulator_equals_one_shot_statistics():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(257, 7)) * 100 + 1e4   # float32 batches, accumulated in float64
    acc = FIDAccumulator()
    for i in range(0, len(a), 50):
        acc.update(a[i:i + 50].astype(np.float32))
    mu, S = acc.stats()
    a32 = a.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(mu, a32.mean(0), rtol=1e-12)
    np.testing.assert_allclose(S, np.cov(a32, rowvar=False), rtol=1e-9, atol=1e-9)
    b = rng.normal(size=(100, 7))
    assert acc.fid(FIDAccumulator().update(b)) == pytest.approx(fid(a32, b), rel=1e-9)


def test_fid_accumulator_stays_exact_at_an_offset_1e7_times_the_spread():
    """Features N(1e7, 1): the textbook streaming update, sum x x^T / n - mu mu^T, loses
    the covariance in the cancellation of two numbers near 1e14 (computed below: off by
    more than 1e-3); Chan et al.'s update keeps it to round-off."""
    rng = np.random.default_rng(8)
    a = rng.normal(size=(257, 7)) + 1e7
    acc, sum_x, sum_xx = FIDAccumulator(), np.zeros(7), np.zeros((7, 7))
    for i in range(0, len(a), 50):
        batch = a[i:i + 50]
        acc.update(batch)
        sum_x, sum_xx = sum_x + batch.sum(0), sum_xx + batch.T @ batch
    n, exact = len(a), np.cov(a, rowvar=False)           # two-pass: centred first
    naive = (sum_xx - n * np.outer(sum_x / n, sum_x / n)) / (n - 1)
    assert np.abs(naive - exact).max() > 1e-3
    mu, S = acc.stats()
    np.testing.assert_allclose(mu, a.mean(0), rtol=1e-14)
    np.testing.assert_allclose(S, exact, rtol=0, atol=1e-8)


def test_every_metric_refuses_nan_features_or_pixels():
    rng = np.random.default_rng(9)
    feats, images = rng.normal(size=(20, 4)), rng.random((2, 3, 16, 16))
    bad_feats, bad_images = feats.copy(), images.copy()
    bad_feats[3, 1], bad_images[1, 2, 5, 5] = np.nan, np.nan
    with pytest.raises(ValueError, match='kid: .*NaN or inf'):
        kid(feats, bad_feats)
    with pytest.raises(ValueError, match='precision_recall: .*NaN or inf'):
        precision_recall(bad_feats, feats)
    with pytest.raises(ValueError, match='fid.fid: .*NaN or inf'):
        fid(feats, bad_feats)
    acc = FIDAccumulator().update(feats)
    with pytest.raises(ValueError, match='FIDAccumulator.update: .*NaN or inf'):
        acc.update(bad_feats)
    assert acc.n == 20
    with pytest.raises(ValueError, match='ssim: .*NaN or inf'):
        ssim(images, bad_images)
    with pytest.raises(ValueError, match='psnr: .*NaN or inf'):
        psnr(bad_images, images)
    with pytest.raises(ValueError, match='inception_score'):
        inception_score(np.full((4, 2), np.nan))

    class NaNClip:  # a CLIP whose image embeddings went NaN
        def image_embeddings(self, images, batch_size):
            return bad_feats

        def text_embeddings(self, captions, batch_size):
            return feats
    from minigen.metrics import clip_score
    with pytest.raises(ValueError, match='clip_score: .*NaN or inf'):
        clip_score(np.zeros((20, 1, 2, 2)), ['x'] * 20, NaNClip())


# ---- Inception Score -----------------------------------------------------------------

def test_inception_score_confident_and_uniform_equals_number_of_classes():
    probs = np.eye(7)[np.arange(700) % 7]
    assert inception_score(probs, splits=1)[0] == pytest.approx(7, rel=1e-12)
    mean, std = inception_score(probs, splits=10)
    assert 6.5 < mean <= 7 and std < 0.5


def test_inception_score_identical_predictions_equals_one():
    probs = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (200, 1))
    mean, std = inception_score(probs)
    assert mean == pytest.approx(1, abs=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_inception_score_matches_direct_formula_and_rejects_logits():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(5, 0.3), size=60)
    p_y = probs.mean(0)
    expected = np.exp(np.mean([sum(p[k] * np.log(p[k] / p_y[k]) for k in range(5)) for p in probs]))
    assert inception_score(probs, splits=1)[0] == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match='logits'):
        inception_score(rng.normal(size=(10, 5)))


# ---- KID -----------------------------------------------------------------------------

def test_kid_mmd2_matches_double_loop_reference():
    from minigen.metrics.kid import mmd2_unbiased
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 1
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_near_zero_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=200)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 0.01
    assert shifted > 0.1 and shifted > 10 * abs(same)


# ---- precision / recall --------------------------------------------------------------

def test_precision_recall_collapsed_generator_has_high_precision_low_recall():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 8))
    collapsed = real[:5].repeat(40, axis=0) + 0.01 * rng.normal(size=(200, 8))
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision > 0.95 and recall < 0.1
    p_same, r_same = precision_recall(real, rng.normal(size=(500, 8)))
    assert p_same > 0.6 and r_same > 0.6


def test_precision_recall_matches_loop_reference_and_batches_agree():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 0.7
    dist = lambda a, b: np.linalg.norm(a[:, None] - b[None], axis=-1)  # noqa: E731
    r_real = np.sort(dist(real, real), axis=1)[:, 3]
    r_fake = np.sort(dist(fake, fake), axis=1)[:, 3]
    precision = np.mean([(dist(f[None], real)[0] <= r_real).any() for f in fake])
    recall = np.mean([(dist(r[None], fake)[0] <= r_fake).any() for r in real])
    assert precision_recall(real, fake, k=3) == pytest.approx((precision, recall))
    assert precision_recall(real, fake, k=3, batch_size=7) == pytest.approx((precision, recall))


# ---- SSIM and PSNR -------------------------------------------------------------------

def test_ssim_is_one_for_identical_images_and_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 16, 20)), rng.random((2, 3, 16, 20))
    assert ssim(a, a) == pytest.approx(1, abs=1e-12)
    assert ssim(a, b) == pytest.approx(ssim(b, a), rel=1e-12)
    assert ssim(a, b) < 0.2


def test_ssim_hand_computed_constant_images():
    # 11x11 constant images 0.5 and 0.25: one window, sigma = 0, so
    # SSIM = (2 * .5 * .25 + C1) / (.5^2 + .25^2 + C1) = 0.2501 / 0.3126
    # (C1 = 1e-4; the C2 terms cancel).
    a, b = np.full((11, 11), 0.5), np.full((11, 11), 0.25)
    assert ssim(a, b) == pytest.approx(0.2501 / 0.3126, rel=1e-12)


def test_ssim_matches_explicit_window_loop():
    rng = np.random.default_rng(1)
    a = rng.random((13, 12))
    b = np.clip(a + 0.2 * rng.normal(size=a.shape), 0, 1)
    g = gaussian_window()
    w = np.outer(g, g)
    C1, C2 = 0.01 ** 2 * 4, 0.03 ** 2 * 4  # data_range 2
    values = []
    for i in range(13 - 10):
        for j in range(12 - 10):
            x, y = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
            cxy = (w * (x - mx) * (y - my)).sum()
            values.append((2 * mx * my + C1) * (2 * cxy + C2)
                          / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2)))
    assert ssim(a, b, data_range=2.0) == pytest.approx(np.mean(values), rel=1e-10)
    assert g.sum() == pytest.approx(1) and len(g) == 11


def test_ssim_per_channel_mean_and_clear_errors():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 12, 12)), rng.random((3, 12, 12))
    assert ssim(a, b) == pytest.approx(np.mean([ssim(a[c], b[c]) for c in range(3)]), rel=1e-12)
    with pytest.raises(ValueError, match='at least 11x11'):
        ssim(rng.random((3, 28, 5)), rng.random((3, 28, 5)))
    with pytest.raises(ValueError, match='ssim'):
        ssim(a, b[:2])


@pytest.mark.parametrize('shape', [(24, 24, 12), (2, 24, 24, 12), (32, 32, 3), (2, 32, 32, 1)])
def test_ssim_refuses_channels_last_images(shape):
    """(H, W, C) read as (C, H, W) slides the window over W and C: with C >= 11 that gave
    a number, with fewer a message about the window size."""
    rng = np.random.default_rng(4)
    a, b = rng.random(shape), rng.random(shape)
    with pytest.raises(ValueError, match=rf"ssim: .*{shape[-3]} channels.*channels-last"):
        ssim(a, b)


def test_psnr_formula_and_identical_images():
    rng = np.random.default_rng(3)
    a = rng.random((2, 1, 8, 8))
    assert psnr(a, a) == float('inf')
    assert psnr(a, a + 0.1) == pytest.approx(20.0, rel=1e-9)    # 10 log10(1 / 0.01)
    assert psnr(2 * a, 2 * a + 0.2, data_range=2.0) == pytest.approx(20.0, rel=1e-9)
