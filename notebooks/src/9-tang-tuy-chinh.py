# %% [markdown]
# # Các tầng tuỳ chỉnh (Custom Layers)
#
# Mục này của *Dive into Deep Learning* (bản MXNet, tiếng Việt) nói về cách tự viết một tầng: một
# tầng không có tham số, rồi một tầng tự khai báo tham số của mình. Sổ tay chạy lại 9 ô mã của
# sách, đánh số 1 đến 9 như trong sách và giữ nguyên từng ký tự; lời giải thích là của chúng tôi.
# Các ô khác (ô chuẩn bị, các ô dùng `gluon_params_kit`, lời giải bài tập) là của chúng tôi và được
# ghi rõ. `gluon-params chapter --section custom-layer` chạy chính các ô của sách, kiểm chứng từng
# kết quả và so với mã của sách chạy trong tiến trình mới.

# %% [markdown]
# Ô chuẩn bị (của chúng tôi): nạp `gluon_params_kit` trước MXNet để khôi phục các bí danh như
# `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12).

# %%
import gluon_params_kit as gpk

# %% [markdown]
# ## Tầng không có tham số (Layers without parameters)
#
# **Ô 1.** Một tầng chỉ cần kế thừa `nn.Block` và định nghĩa `forward`. `CenteredLayer` trừ đi
# giá trị trung bình của đầu vào; nó không có tham số nào.

# %% [book:custom-layer/1]

# %% [markdown]
# **Ô 2.** Đưa vào 1, 2, 3, 4, 5 (trung bình 3):

# %% [book:custom-layer/2]

# %% [markdown]
# **Ô 3 và 4.** Tầng tự viết ghép vào một mô hình lớn hơn như mọi tầng khác. Đầu ra đã được trừ
# trung bình nên trung bình của nó bằng 0, sai khác chỉ do làm tròn số thực.

# %% [book:custom-layer/3]

# %% [book:custom-layer/4]

# %% [markdown]
# ## Tầng có tham số (Layers with parameters)
#
# **Ô 5.** Tham số được tạo qua một `ParameterDict`: `get` tạo tham số nếu chưa có (và trả về
# tham số cũ nếu đã có), với tên và hình dạng cho trước.

# %% [book:custom-layer/5]

# %% [markdown]
# **Ô 6.** `MyDense` khai báo trọng số `(in_units, units)` và bias `(units,)` bằng `self.params.get`
# của chính khối; tên được thêm tiền tố của khối (`mydense0_`).

# %% [book:custom-layer/6]

# %% [markdown]
# **Ô 7.** Tham số của nó:

# %% [book:custom-layer/7]

# %% [markdown]
# **Ô 8 và 9.** Dùng trực tiếp, rồi trong một mô hình.

# %% [book:custom-layer/8]

# %% [book:custom-layer/9]

# %% [markdown]
# Ô của chúng tôi: tham số tự khai báo là tham số như mọi tham số khác đối với `gluon_params_kit`.
# Đường dẫn cấu trúc lấy theo tên thuộc tính (`0.weight`), `select` chọn theo mẫu, `summary` liệt
# kê cả mạng. Một điều đáng để ý: `MyDense` không khai báo bộ khởi tạo riêng cho bias (khác với
# `Dense`, vốn khai báo `zeros`), nên bias cũng được lấy ngẫu nhiên theo bộ khởi tạo mặc định.

# %%
weights = gpk.select(net, r"weight$")
print({path: (p.name, p.shape) for path, p in weights.items()})
assert weights["0.weight"] is net[0].weight and list(weights) == ["0.weight", "1.weight"]

# %%
s = gpk.summary(net)
for row in s.to_records():
    print(f"{row['path']:9} {row['name']:16} {str(row['shape']):8} {row['size']:4}")
print("tổng số tham số:", s.totals["parameters"])
assert s.totals["parameters"] == 64 * 8 + 8 + 8 * 1 + 1
assert abs(net[0].bias.data()).max() > 0  # không có bộ khởi tạo riêng: Uniform mặc định lấy mẫu cả bias

# %% [markdown]
# ## Tóm tắt (Summary)
#
# * Tầng tự viết là một `Block` với `forward` của riêng nó, dùng được ở mọi chỗ một tầng có sẵn
#   được dùng.
# * Tham số được khai báo bằng `self.params.get(tên, shape=...)`; chúng có tên, được khởi tạo,
#   lưu và nạp như tham số của các tầng có sẵn.
# * Tầng có thể không có tham số nào (như `CenteredLayer`).

# %% [markdown]
# ## Bài tập (Exercises)
#
# **1.** Một tầng học phép biến đổi affine $y = xW + b$ của dữ liệu. Ta huấn luyện nó trên dữ liệu
# sinh từ một phép affine đã biết và kiểm tra rằng nó tìm lại được $W$ và $b$.

# %%
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn


class Affine(nn.Block):
    def __init__(self, in_units, units, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get("weight", shape=(in_units, units))
        self.bias = self.params.get("bias", shape=(units,), init="zeros")

    def forward(self, x):
        return np.dot(x, self.weight.data()) + self.bias.data()


true_w, true_b = np.array([[2.0, -1.0], [0.5, 3.0], [-1.5, 1.0]]), np.array([0.5, -2.0])
X = np.random.normal(size=(256, 3))
Y = np.dot(X, true_w) + true_b
affine = Affine(3, 2)
affine.initialize()
trainer = gluon.Trainer(affine.collect_params(), "sgd", {"learning_rate": 0.1})
for _ in range(200):
    with autograd.record():
        loss = ((affine(X) - Y) ** 2).mean()
    loss.backward()
    trainer.step(1)
print(affine.weight.data(), affine.bias.data(), float(loss))
assert abs(affine.weight.data() - true_w).max() < 1e-3 and abs(affine.bias.data() - true_b).max() < 1e-3

# %% [markdown]
# **2.** Một tầng rút gọn tensor: $y_k = \sum_{i, j} W_{ijk} x_i x_j$. Với một lô dữ liệu, đó là
# `einsum('bi,bj,ijk->bk')`; ta so với cách tính bằng vòng lặp trong NumPy.

# %%
import numpy as onp


class TensorReduction(nn.Block):
    def __init__(self, in_units, units, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get("weight", shape=(in_units, in_units, units))

    def forward(self, x):
        return np.einsum("bi,bj,ijk->bk", x, x, self.weight.data())


layer = TensorReduction(4, 3)
layer.initialize()
x = np.random.uniform(size=(2, 4))
y = layer(x)
W, xs = layer.weight.data().asnumpy(), x.asnumpy()
want = onp.array([[sum(W[i, j, k] * xb[i] * xb[j] for i in range(4) for j in range(4)) for k in range(3)]
                  for xb in xs])
print(y)
assert y.shape == (2, 3) and onp.allclose(y.asnumpy(), want, atol=1e-6)

# %% [markdown]
# **3.** Một tầng trả về nửa đầu các hệ số Fourier của dữ liệu. Hàm `fft` của MXNet 1.9.1
# (`mx.nd.contrib.fft`) chỉ chạy trên GPU, nên ta viết phép biến đổi Fourier rời rạc như một phép
# nhân ma trận với các ma trận cos và sin cố định: đó là hằng số của tầng (`get_constant`), không
# phải tham số được học. Kết quả được so với `numpy.fft.fft`.

# %%
class FourierHalf(nn.Block):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        k = onp.arange(n // 2)[:, None] * onp.arange(n)[None, :]
        self.cos = self.params.get_constant("cos", np.array(onp.cos(2 * onp.pi * k / n).T, dtype="float32"))
        self.sin = self.params.get_constant("sin", np.array(-onp.sin(2 * onp.pi * k / n).T, dtype="float32"))

    def forward(self, x):  # phần thực và phần ảo của n // 2 hệ số đầu tiên
        return np.dot(x, self.cos.data()), np.dot(x, self.sin.data())


fourier = FourierHalf(8)
fourier.initialize()
x = np.random.uniform(size=(2, 8))
re, im = fourier(x)
want = onp.fft.fft(x.asnumpy(), axis=1)[:, :4]
print(re.shape, im.shape)
assert onp.allclose(re.asnumpy(), want.real, atol=1e-5) and onp.allclose(im.asnumpy(), want.imag, atol=1e-5)
assert all(p.grad_req == "null" for p in fourier.collect_params().values())  # không có gì để học
