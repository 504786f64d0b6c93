# %% [markdown]
# # Tầng và Khối (Layers and Blocks)
#
# Mục này của *Dive into Deep Learning* (bản MXNet, tiếng Việt) đứng ngay trước chương "Quản lý
# Tham số". Nó giới thiệu `Block` của Gluon: một tầng là một khối, một nhóm tầng là một khối, cả
# mô hình cũng là một khối. Sổ tay chạy lại 8 ô mã của sách, đánh số 1 đến 8 như trong sách và giữ
# nguyên từng ký tự; lời giải thích là của chúng tôi. Các ô khác (ô chuẩn bị, các ô dùng
# `gluon_params_kit`, lời giải bài tập) là của chúng tôi và được ghi rõ. Các ô của chúng tôi nằm giữa
# các ô của sách chỉ *đọc* mô hình: không tạo khối mới, không rút số ngẫu nhiên nào, nên ô nào của
# sách cũng cho đúng kết quả như khi chạy một mình.
# `gluon-params chapter --section model-construction` chạy chính các ô của sách, tính lại từng kết
# quả bằng NumPy từ tham số và so với mã của sách chạy trong tiến trình mới.

# %% [markdown]
# Ô chuẩn bị (của chúng tôi): nạp `gluon_params_kit` trước MXNet để khôi phục các bí danh như
# `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12). NumPy thường, gọi là `onp`,
# dùng để tính lại kết quả mà không qua MXNet.

# %%
import gluon_params_kit as gpk
import numpy as onp

# %% [markdown]
# **Ô 1.** Điểm xuất phát là một perceptron đa tầng: tầng ẩn 256 đơn vị với ReLU, tầng ra 10 đơn
# vị, xếp nối tiếp trong `nn.Sequential`. Đầu vào là một lô 2 mẫu, mỗi mẫu 20 chiều.

# %% [book:model-construction/1]

# %% [markdown]
# Ô của chúng tôi: `Sequential` chỉ gọi các tầng theo thứ tự. Đầu ra đúng bằng
# $\mathrm{relu}(x W_0^\top + b_0) W_1^\top + b_1$, tính lại bằng NumPy từ các tham số (hàm
# `dense_by_hand` dưới đây, dùng lại ở các ô sau). `gpk.named_parameters` liệt kê tham số theo đường
# dẫn cấu trúc (`0.weight` là trọng số của tầng con `0`), cũng là khoá mà `save_parameters` ghi vào tệp.

# %%
def dense_by_hand(layer, h, relu=False):
    """Điều một tầng Dense tính trên mảng NumPy ``h``: h W^T + b, rồi relu nếu được yêu cầu."""
    y = h @ layer.weight.data().asnumpy().T + layer.bias.data().asnumpy()
    return onp.maximum(y, 0) if relu else y


params = gpk.named_parameters(net)
print({k: p.shape for k, p in params.items()})
by_hand = dense_by_hand(net[1], dense_by_hand(net[0], x.asnumpy(), relu=True))
assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias"]
assert onp.allclose(net(x).asnumpy(), by_hand, atol=1e-6)

# %% [markdown]
# ## Một khối tùy chỉnh (A custom block)
#
# **Ô 2.** Tự viết một khối chỉ cần hai việc: tạo các tầng con trong `__init__` (gán chúng làm thuộc
# tính) và mô tả lượt truyền xuôi trong `forward`. Lượt truyền ngược do `autograd` suy ra, việc
# khởi tạo tham số do lớp `Block` lo.

# %% [book:model-construction/2]

# %% [markdown]
# **Ô 3.** Khối mới dùng y như mọi khối có sẵn.

# %% [book:model-construction/3]

# %% [markdown]
# Ô của chúng tôi: gán một khối vào thuộc tính là *đăng ký* nó làm khối con, dưới tên thuộc tính, nên
# đường dẫn là `hidden.weight`, `output.bias`. Tên tự động thì khác: các tầng tên là `dense2`,
# `dense3` chứ không phải `mlp0_dense0`, vì `__init__` của sách không mở `self.name_scope()`, và bộ
# đếm tên là chung cho cả tiến trình (ô 1 đã dùng `dense0`, `dense1`).

# %%
print(gpk.render_tree(net))
assert list(gpk.named_parameters(net)) == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
assert (net.name, net.hidden.name, net.output.name) == ("mlp0", "dense2", "dense3")

# %% [markdown]
# ## Khối tuần tự (The Sequential block)
#
# **Ô 4.** Một `Sequential` tự viết: `add` cất khối vào từ điển có thứ tự `_children` (của Gluon,
# nơi `Block` giữ các khối con), `forward` đi qua các khối theo đúng thứ tự đã thêm. Chính việc cất
# vào đó giúp `initialize()` và `collect_params()` tìm thấy tham số của các khối con (bài tập 2 cho
# thấy điều gì xảy ra nếu không).

# %% [book:model-construction/4]

# %% [markdown]
# **Ô 5.** Dùng nó để dựng lại MLP của ô 1.

# %% [book:model-construction/5]

# %% [markdown]
# Ô của chúng tôi: khác với `nn.Sequential` (khoá `0`, `1`), `MySequential` lấy *tên tự động* của
# khối con làm khoá, nên đường dẫn cấu trúc là `dense4.weight`... và phụ thuộc vào bộ đếm tên của
# tiến trình (xem ô cuối phần này). Thứ tự thì được giữ: tầng 256 đơn vị trước, tầng 10 đơn vị sau.
# `gpk.named_blocks` cho mọi khối con theo đường dẫn, không cần đọc thuộc tính riêng của Gluon.

# %%
print(gpk.render_tree(net))
blocks = gpk.named_blocks(net)
by_hand = dense_by_hand(blocks["dense5"], dense_by_hand(blocks["dense4"], x.asnumpy(), relu=True))
assert list(gpk.named_parameters(net))[::2] == ["dense4.weight", "dense5.weight"]
assert onp.allclose(net(x).asnumpy(), by_hand, atol=1e-6)

# %% [markdown]
# ## Thực thi mã trong phương thức `forward` (Executing code in the `forward` method)
#
# **Ô 6.** `forward` là mã Python bình thường, nên làm được nhiều hơn là xếp tầng. `FixedHiddenMLP`
# dùng một ma trận ngẫu nhiên *cố định* (`get_constant`: không được huấn luyện), dùng cùng một tầng
# `dense` hai lần, và có một vòng `while` phụ thuộc vào dữ liệu: chia đôi cho tới khi tổng trị tuyệt
# đối không vượt quá 1.

# %% [book:model-construction/6]

# %% [markdown]
# **Ô 7.** Kết quả là một số vô hướng.

# %% [book:model-construction/7]

# %% [markdown]
# Ô của chúng tôi: cây của mạng ghi `grad_req=null` cho `rand_weight`; `summary` đếm nó riêng, là
# trạng thái (`state`, 400 giá trị) không được huấn luyện, tách khỏi 420 tham số được huấn luyện
# (`trainable`) của `dense`. Với một đầu vào mẫu, `tied_groups` chạy một lượt truyền xuôi và đếm
# được rằng `dense` được dùng hai lần.

# %%
print(gpk.render_tree(net))
s = gpk.summary(net)
print("được huấn luyện:", s.totals["trainable"], "| hằng số (state):", s.totals["state"])
tied = gpk.tied_groups(net, x)
print("số lần dùng trong một lượt truyền xuôi:", {path: group.uses for path, group in tied.items()})
assert (s.totals["trainable"], s.totals["state"]) == (420, 400) and tied["dense.weight"].uses == 2

# %% [markdown]
# Vòng `while` bảo đảm $|\sum x| \le \sum |x| \le 1$; ta tính lại cả vòng lặp bằng NumPy.

# %%


def fixed_hidden_by_hand(block, h):
    """FixedHiddenMLP.forward viết bằng NumPy, kể cả vòng while."""
    h = dense_by_hand(block.dense, h, relu=True)
    h = onp.maximum(h @ block.rand_weight.data().asnumpy() + 1, 0)
    h = dense_by_hand(block.dense, h, relu=True)
    while onp.abs(h).sum() > 1:
        h = h / 2
    return h.sum()


y = float(net(x))
assert abs(y) <= 1 and abs(y - fixed_hidden_by_hand(net, x.asnumpy())) < 1e-6

# %% [markdown]
# **Ô 8.** Khối lồng trong khối: `NestMLP` chứa một `Sequential`, và cả ba loại khối (`NestMLP`, một
# `Dense`, `FixedHiddenMLP`) được xếp chung trong một `Sequential` khác.

# %% [book:model-construction/8]

# %% [markdown]
# Ô của chúng tôi: bản tóm tắt của `chimera` gộp tới độ sâu 1 (mỗi khối con một dòng, với số
# tensor và số giá trị bên trong), rồi mọi đường dẫn: chúng đi xuyên qua các lớp lồng nhau
# (`0.net.1.weight`). Tổng số tham số là 5.112, trong đó 400 là hằng số.

# %%
s = gpk.summary(chimera, depth=1)
for row in s.to_records():
    print(f"{row['path']:9} {row['block_type']:15} {row['count']:2} tensor  {row['size']:5} giá trị")
print(list(gpk.named_parameters(chimera)))
print("tổng:", s.totals["parameters"], "| hằng số:", s.totals["state"])
assert (s.totals["parameters"], s.totals["state"]) == (5112, 400)

# %% [markdown]
# Ô của chúng tôi, sau các ô của sách (nên được phép tạo khối mới): vì khoá của `MySequential` là tên
# tự động, hai bản `MySequential` giống hệt nhau trong cùng một tiến trình có *khoá khác nhau*.
# Tệp tham số của bản này không nạp được vào bản kia; `gpk.load` từ chối trước khi thay đổi gì, nói
# rõ khoá nào thiếu, khoá nào thừa, và gợi ý một `Remap` ghép chúng từng cặp. Với `nn.Sequential`
# (khoá `0`, `1`) thì không có vấn đề đó.

# %%
import os
import tempfile

a, b = MySequential(), MySequential()
for m in (a, b):
    m.add(nn.Dense(4, in_units=3))
    m.initialize()
print(list(gpk.named_parameters(a)), list(gpk.named_parameters(b)))
path = os.path.join(tempfile.mkdtemp(), "a.params")
gpk.save(a, path)
try:
    gpk.load(b, path)
    refused = None
except gpk.CheckpointError as exc:
    refused = exc.report
print("thiếu:", refused.missing, "| thừa:", refused.unexpected, "| đã nạp:", refused.loaded)
print("gợi ý:", refused.suggestion)
assert refused.missing == list(gpk.named_parameters(b)) and refused.unexpected == list(gpk.named_parameters(a))

# %% [markdown]
# ## Biên dịch (Compilation)
#
# Mọi phép tính trong `forward` của một `Block` đều đi qua trình thông dịch Python, từng lệnh một.
# Với mô hình nhỏ, phần tốn kém này đáng kể; `HybridBlock` và `hybridize()` (ở các chương sau) biến
# lượt truyền xuôi thành một đồ thị tính toán để MXNet chạy một mạch. Cái giá phải trả: đồ thị không
# chứa được luồng điều khiển Python phụ thuộc vào dữ liệu, như vòng `while` của `FixedHiddenMLP`
# (bài tập 1).

# %% [markdown]
# ## Tóm tắt (Summary)
#
# * Một khối (`Block`) có thể là một tầng, một nhóm tầng hay cả mô hình; khối lồng được trong khối.
# * Tự viết khối: tạo khối con trong `__init__`, viết `forward`; tham số và lượt truyền ngược được lo
#   giúp.
# * Khối con phải được *đăng ký* (gán vào thuộc tính, hoặc cất trong `_children`) thì tham số của nó
#   mới được khởi tạo, thu thập và lưu.
# * `forward` là mã Python: dùng được hằng số, dùng lại tầng, vòng lặp và rẽ nhánh theo dữ liệu.

# %% [markdown]
# ## Bài tập (Exercises)
#
# **1.** Bỏ `asscalar` thì sao? Ở chế độ `np` (sau `npx.set_np()`), mã của sách *đã* không có nó, và
# thực ra mảng `mx.np` không còn `asscalar` (gọi là lỗi `AttributeError`; thay bằng `item()`). Phép so
# sánh `np.abs(x).sum() > 1` trả về một mảng 0 chiều; `while` gọi `bool()` của mảng đó, việc này chạy
# được khi mảng có đúng một phần tử (và phải chờ phép tính xong). Vấn đề xuất hiện khi *biên dịch*: trong
# một `HybridBlock` đã `hybridize()`, điều kiện là một `Symbol` không có giá trị, và `bool()` báo lỗi.

# %%
import mxnet as mx
from mxnet.base import MXNetError

cond = np.abs(x).sum() > 1
print(type(cond).__name__, cond.shape, bool(cond), cond.item())
try:
    cond.asscalar()
    no_asscalar = None
except AttributeError as exc:
    no_asscalar = exc
print("AttributeError:", no_asscalar)
try:
    bool(x > 0.5)
    ambiguous = None
except ValueError as exc:
    ambiguous = exc
print("ValueError:", ambiguous)


class HybridFixed(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = nn.Dense(20, activation='relu')

    def hybrid_forward(self, F, x):
        x = self.dense(x)
        while F.np.abs(x).sum() > 1:
            x = x / 2
        return x.sum()


hnet = HybridFixed()
hnet.initialize()
eager = float(hnet(x))
hnet.hybridize()
try:
    hnet(x)
    compiled = None
except MXNetError as exc:
    compiled = exc
print(type(compiled).__name__ + ":", compiled)
assert no_asscalar is not None and ambiguous is not None
assert abs(eager) <= 1 and isinstance(compiled, mx.base.NotImplementedForSymbol)

# %% [markdown]
# **2.** Giữ các khối trong một danh sách Python thay vì `_children` (hay thay `Sequential` trong
# `NestMLP` bằng một danh sách)? Gluon chỉ đăng ký một khối khi nó được gán *trực tiếp* vào thuộc
# tính; khối nằm trong danh sách thì không. Khi đó `collect_params()` không thấy tham số nào của
# chúng (Gluon chỉ cảnh báo), `initialize()` bỏ qua chúng, và lượt truyền xuôi đầu tiên báo lỗi
# `RuntimeError`: tham số chưa được khởi tạo. Cây của mạng cũng trống, và `save_parameters` sẽ không
# lưu chúng. Sửa: `register_child` cho từng khối (hoặc dùng `Sequential`).

# %%
import warnings


class ListSequential(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = []

    def add(self, block):
        self.blocks.append(block)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


lnet = ListSequential()
lnet.add(nn.Dense(256, activation='relu'))
lnet.add(nn.Dense(10))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    lnet.initialize()
    found = dict(lnet.collect_params())
print("collect_params():", found, "| named_parameters:", dict(gpk.named_parameters(lnet)))
print(f"{type(caught[0].message).__name__}:", caught[0].message)
try:
    lnet(x)
    failed = None
except RuntimeError as exc:
    failed = exc
print("RuntimeError:", failed)
assert found == {} and failed is not None and "has not been initialized" in str(failed)

# %% [markdown]
# Cách sửa: đăng ký từng khối làm khối con bằng `register_child`. Từ đó Gluon thấy chúng: chúng được
# khởi tạo, có đường dẫn (`0.weight`...) và lượt truyền xuôi chạy được.

# %%
for block in lnet.blocks:
    lnet.register_child(block)
lnet.initialize()
print(gpk.render_tree(lnet))
assert list(gpk.named_parameters(lnet)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
assert lnet(x).shape == (2, 10)

# %% [markdown]
# Đúng như bài tập của sách: đổi `self.net` của `NestMLP` thành một danh sách. Với `forward` giữ
# nguyên, lỗi đến ngay: danh sách không gọi được như một khối. Viết lại `forward` bằng một vòng lặp
# thì chạy được, nhưng hai tầng trong danh sách vẫn vô hình với Gluon: chỉ còn tham số của `dense`.

# %%
class NestList(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.net = [nn.Dense(64, activation='relu'), nn.Dense(32, activation='relu')]
        self.dense = nn.Dense(16, activation='relu')

    def forward(self, x):
        return self.dense(self.net(x))


nest = NestList()
try:
    nest(x)
    not_callable = None
except TypeError as exc:
    not_callable = exc
print("TypeError:", not_callable)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keys = list(gpk.named_parameters(nest))
print(keys)
assert not_callable is not None and "not callable" in str(not_callable)
assert keys == ["dense.weight", "dense.bias"]

# %% [markdown]
# **3.** Một khối song song: nhận hai khối `net1`, `net2`, đưa cùng một đầu vào qua cả hai và nối
# hai đầu ra theo trục đặc trưng. Hai khối được gán vào thuộc tính nên được đăng ký; ta kiểm tra
# hình dạng, và từng nửa của đầu ra so với kết quả tính bằng NumPy.

# %%
class Parallel(nn.Block):
    def __init__(self, net1, net2, **kwargs):
        super().__init__(**kwargs)
        self.net1 = net1
        self.net2 = net2

    def forward(self, x):
        return np.concatenate([self.net1(x), self.net2(x)], axis=1)


par = Parallel(nn.Dense(3), nn.Dense(5, activation='relu'))
par.initialize()
out = par(x)
print(out.shape)
print(gpk.render_tree(par))

want = onp.concatenate([dense_by_hand(par.net1, x.asnumpy()), dense_by_hand(par.net2, x.asnumpy(), True)], 1)
assert out.shape == (2, 3 + 5) and onp.allclose(out.asnumpy(), want, atol=1e-6)
assert list(gpk.named_parameters(par)) == ["net1.weight", "net1.bias", "net2.weight", "net2.bias"]

# %% [markdown]
# **4.** Một hàm "nhà máy" (factory function) tạo ra mỗi lần gọi một khối *mới* cùng kiến trúc, và
# một hàm ghép nhiều bản như thế thành mạng lớn hơn. Mỗi bản có tham số riêng: không tham số nào
# dùng chung (`tied_groups` rỗng), giá trị khởi tạo khác nhau, và số tham số đúng bằng tổng từng bản.

# %%
def make_block(units=16):
    """Mỗi lần gọi, một khối hai tầng mới."""
    block = nn.Sequential()
    block.add(nn.Dense(units, activation='relu'), nn.Dense(units, activation='relu'))
    return block


def stack(factory, n):
    """``n`` khối do ``factory`` tạo ra, nối tiếp nhau."""
    net = nn.Sequential()
    for _ in range(n):
        net.add(factory())
    return net


big = stack(make_block, 3)
big.initialize()
y = big(x)
keys = list(gpk.named_parameters(big))
total = gpk.summary(big).totals["parameters"]
print(f"{len(keys)} khoá, {total:,} tham số:", keys[:4], "...", keys[-2:])
print("nhóm tham số dùng chung:", len(gpk.tied_groups(big)))
first = 16 * 20 + 16 + 16 * 16 + 16  # khối đầu nhận 20 đặc trưng đầu vào
assert total == first + 2 * (2 * (16 * 16 + 16))
assert not onp.allclose(big[1][0].weight.data().asnumpy(), big[2][0].weight.data().asnumpy())
