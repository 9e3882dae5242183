import numpy as np

from batch_size_lr import mnist1d


def test_mnist1d_shapes_balance_and_standardisation():
    data = mnist1d(num_samples=500, seed=1)
    assert data.x.shape == (400, 40) and data.x_test.shape == (100, 40)
    assert np.bincount(np.concatenate([data.y, data.y_test]), minlength=10).tolist() == [50] * 10
    both = np.concatenate([data.x, data.x_test])
    assert abs(both.mean()) < 1e-5 and abs(both.std() - 1) < 1e-5
    again = mnist1d(num_samples=500, seed=1)
    np.testing.assert_array_equal(data.x, again.x)
