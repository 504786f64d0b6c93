# %% [markdown]
# # Đọc/Ghi tệp (File I/O)
#
# Mục này của *Dive into Deep Learning* (bản MXNet, tiếng Việt) nói về việc lưu mảng và tham số
# của mô hình xuống tệp rồi nạp lại. Sổ tay chạy lại 8 ô mã của sách, đánh số 1 đến 8 như trong
# sách và giữ nguyên từng ký tự; lời giải thích là của chúng tôi. Các ô khác (ô chuẩn bị, các ô
# dùng `gluon_params_kit`, lời giải bài tập) là của chúng tôi và được ghi rõ.
# `gluon-params chapter --section read-write` chạy chính các ô của sách trong một thư mục trống,
# kiểm chứng từng kết quả và so với mã của sách chạy trong tiến trình mới.

# %% [markdown]
# Ô chuẩn bị (của chúng tôi): nạp `gluon_params_kit` trước MXNet để khôi phục các bí danh như
# `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12). Các ô của sách ghi tệp
# vào thư mục hiện hành, nên ta chuyển sang một thư mục tạm.

# %%
import os
import tempfile

import gluon_params_kit as gpk

os.chdir(tempfile.mkdtemp(prefix="doc-ghi-tep-"))

# %% [markdown]
# ## Lưu và nạp mảng (Loading and saving arrays)
#
# **Ô 1 và 2.** `npx.save` ghi một mảng; `npx.load` đọc lại, dưới dạng một danh sách.

# %% [book:read-write/1]

# %% [book:read-write/2]

# %% [markdown]
# **Ô 3.** Một danh sách mảng:

# %% [book:read-write/3]

# %% [markdown]
# **Ô 4.** Một từ điển từ chuỗi tới mảng:

# %% [book:read-write/4]

# %% [markdown]
# ## Tham số của mô hình Gluon (Gluon model parameters)
#
# **Ô 5.** Lưu cả một mô hình không tiện (kiến trúc là mã Python), nên ta lưu *tham số* của nó.

# %% [book:read-write/5]

# %% [markdown]
# **Ô 6.** `save_parameters` ghi mọi tham số, với khoá là đường dẫn thuộc tính (`hidden.weight`).

# %% [book:read-write/6]

# %% [markdown]
# **Ô 7 và 8.** Một bản sao tạo lại từ cùng lớp `MLP`, nạp tham số từ tệp, tính ra đúng kết quả
# như mô hình gốc.

# %% [book:read-write/7]

# %% [book:read-write/8]

# %% [markdown]
# ## Những gì `gluon_params_kit` thêm vào (What the kit adds)
#
# Ô của chúng tôi: `read_header` đọc phần đầu của mỗi tệp mà sách vừa ghi (tên, hình dạng, kiểu
# dữ liệu của từng mảng) mà không đọc dữ liệu, nên rất nhanh kể cả với tệp lớn.

# %%
for name in ("x-file", "x-files", "mydict", "mlp.params"):
    header = gpk.read_header(name)
    print(f"{name:10}", [(a.name, a.shape, a.dtype) for a in header.values()])
assert header.names == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
assert header["hidden.weight"].shape == (256, 20) and header["output.bias"].dtype == "float32"

# %% [markdown]
# `gpk.save` ghi cùng các khoá như `save_parameters` (nên `load_parameters` đọc được), nhưng ghi vào
# một tệp tạm rồi đổi tên, nên một lỗi giữa chừng không để lại tệp hỏng. `gpk.load` kiểm tra tệp
# với mạng *trước khi* thay đổi bất cứ gì và trả về một `LoadReport`: tham số nào được nạp
# (`loaded`), thiếu (`missing`), thừa (`unexpected`), hay sai hình dạng (`shape_mismatches`).

# %%
keys = gpk.save(net, "mlp-kit.params")
clone2 = MLP()
report = gpk.load(clone2, "mlp-kit.params")
print("đã nạp:", report.loaded, "| thiếu:", report.missing, "| thừa:", report.unexpected)
assert report.loaded == keys == header.names and (clone2(x) == y).all()

# %% [markdown]
# Một tệp không khớp bị từ chối trọn vẹn: mạng có tầng ra 5 đơn vị không nhận tệp có tầng ra 10,
# báo cáo (trong lỗi, `exc.report`) nêu rõ vì sao, và không tham số nào bị thay đổi.

# %%
from mxnet.gluon import nn


class MLP5(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = nn.Dense(256, activation='relu')
        self.output = nn.Dense(5)

    def forward(self, x):
        return self.output(self.hidden(x))


other = MLP5()
other.initialize()
other(x)
before = other.hidden.weight.data().copy()
try:
    gpk.load(other, "mlp-kit.params")
    refused = None
except gpk.CheckpointError as exc:
    refused = exc.report
print("sai hình dạng (trong mạng, trong tệp):", dict(refused.shape_mismatches))
print("đã áp dụng vào mạng:", refused.applied)
assert set(refused.shape_mismatches) == {"output.weight", "output.bias"}
assert (other.hidden.weight.data() == before).all()  # không nạp dở dang

# %% [markdown]
# ## Tóm tắt (Summary)
#
# * `npx.save` và `npx.load` lưu và nạp mảng, danh sách mảng và từ điển mảng.
# * Tham số của một mô hình được lưu bằng `save_parameters` và nạp bằng `load_parameters`; kiến
#   trúc không được lưu, nên phải tạo lại mô hình bằng mã rồi mới nạp tham số.
# * Khoá trong tệp là đường dẫn thuộc tính của tham số, không phụ thuộc bộ đếm tên.

# %% [markdown]
# ## Bài tập (Exercises)
#
# **1.** Dù không cần đưa mô hình sang thiết bị khác, lưu tham số vẫn có ích: để *tiếp tục* huấn
# luyện sau khi bị gián đoạn, giữ lại phiên bản tốt nhất, so sánh các lần chạy, hay khởi đầu một
# mô hình mới từ một mô hình đã huấn luyện. Ở đây: huấn luyện 2 bước, lưu, nạp vào một mô hình
# mới và huấn luyện tiếp 2 bước, cho đúng kết quả như 4 bước liền một mạch.

# %%
from mxnet import autograd, gluon, np


def train(model, steps):
    trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(steps):
        with autograd.record():
            loss = ((model(x) - 1) ** 2).mean()
        loss.backward()
        trainer.step(1)


straight, resumed = MLP(), MLP()
gpk.load(straight, "mlp.params")  # cả hai bắt đầu từ tham số sách đã lưu
train(straight, 4)
first = MLP()
gpk.load(first, "mlp.params")
train(first, 2)
gpk.save(first, "checkpoint.params")
print("đã nạp:", gpk.load(resumed, "checkpoint.params").loaded)
train(resumed, 2)
assert all((a.data() == b.data()).all() for a, b in
           zip(straight.collect_params().values(), resumed.collect_params().values()))

# %% [markdown]
# **2.** Dùng lại hai tầng đầu của một mạng trong một mạng có kiến trúc *khác*: nạp chỉ những khoá
# đó. Ở đây mạng cũ có ba tầng Dense, mạng mới giữ hai tầng đầu và thay tầng ra. `remap` bỏ các khoá
# của tầng cũ không dùng, `strict=False` chấp nhận rằng tầng ra mới giữ giá trị khởi tạo của nó;
# báo cáo liệt kê tham số nào đã nạp và tham số nào còn thiếu.

# %%
import warnings

old = nn.Sequential()
old.add(nn.Dense(64, activation='relu'), nn.Dense(32, activation='relu'), nn.Dense(10))
old.initialize()
old(x)
gpk.save(old, "old.params")
new = nn.Sequential()
new.add(nn.Dense(64, activation='relu'), nn.Dense(32, activation='relu'), nn.Dense(3))
new.initialize()
new(x)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gpk.LoadWarning)  # cảnh báo nói đúng điều báo cáo in ra dưới đây
    report = gpk.load(new, "old.params", strict=False,
                      remap=lambda key: key if key.startswith(("0.", "1.")) else None)
print("đã nạp:", report.loaded)
print("bỏ qua (theo remap):", report.dropped, "| thiếu, giữ giá trị khởi tạo:", report.missing)
assert report.missing == ["2.weight", "2.bias"] and (new[1].weight.data() == old[1].weight.data()).all()

# %% [markdown]
# **3.** Lưu cả kiến trúc lẫn tham số: một `HybridBlock` đã `hybridize()` có thể `export` đồ thị
# tính toán (tệp `-symbol.json`) cùng tham số, và `SymbolBlock.imports` tạo lại mô hình mà không cần
# mã Python của nó. Hạn chế: kiến trúc phải là một đồ thị tĩnh, tức là mọi khối là `HybridBlock` và
# `forward` không có luồng điều khiển Python phụ thuộc vào dữ liệu. `MLP` của sách là một `Block`
# thường nên không `export` được.

# %%
hnet = nn.HybridSequential()
hnet.add(nn.Dense(256, activation='relu'), nn.Dense(10))
hnet.initialize()
hnet.hybridize()
yh = hnet(x)
hnet.export("hmlp")
print(sorted(f for f in os.listdir() if f.startswith("hmlp")))
restored = gluon.SymbolBlock.imports("hmlp-symbol.json", ["data"], "hmlp-0000.params")
assert (restored(x) == yh).all()
assert not hasattr(net, "export")  # MLP của sách là một Block thường
