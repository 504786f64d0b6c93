# %% [markdown]
# # Khởi tạo trễ (Deferred Initialization)
#
# Mục này của *Dive into Deep Learning* (bản MXNet, tiếng Việt) theo ngay sau chương "Quản lý
# Tham số". Sổ tay chạy lại 9 ô mã của sách, đánh số 1 đến 9 như trong sách và giữ nguyên từng
# ký tự; lời giải thích là của chúng tôi. Các ô khác (ô chuẩn bị, các ô dùng `gluon_params_kit`,
# lời giải bài tập) là của chúng tôi và được ghi rõ. `gluon-params chapter --section deferred-init`
# chạy chính các ô của sách, kiểm chứng từng kết quả và so với mã của sách chạy trong tiến trình mới.
#
# Câu hỏi của mục: khi ta tạo một tầng `Dense(256)` mà không nói đầu vào có bao nhiêu chiều, thì
# ma trận trọng số có hình dạng gì, và khi nào nó mới thực sự được tạo ra?

# %% [markdown]
# Ô chuẩn bị (của chúng tôi): nạp `gluon_params_kit` trước MXNet để khôi phục các bí danh như
# `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12).

# %%
import gluon_params_kit as gpk

# %% [markdown]
# ## Tạo mạng (Instantiating a network)
#
# **Ô 1.** Một MLP như ở chương trước, nhưng chưa khởi tạo.

# %% [book:deferred-init/1]

# %% [markdown]
# **Ô 2.** Chưa ai biết đầu vào có bao nhiêu chiều, nên chiều đó hiện là `-1` (ở chế độ `np`),
# cả trong biểu diễn của mạng lẫn trong hình dạng của trọng số. Bias thì đã biết hình dạng.

# %% [book:deferred-init/2]

# %% [markdown]
# **Ô 3.** `initialize()` không tạo được trọng số khi chưa biết hình dạng: Gluon ghi nhớ bộ khởi
# tạo và *hoãn* việc khởi tạo. Hình dạng vẫn là `-1`.

# %% [book:deferred-init/3]

# %% [markdown]
# Ô của chúng tôi: `gpk.summary` cho thấy đúng trạng thái này mà không cần lượt truyền xuôi nào.
# Mỗi dòng của nó (`to_records()`) là một từ điển; ta in đường dẫn, hình dạng (chiều chưa biết là
# `None`) và trạng thái: trọng số đang chờ (`deferred`), còn bias đã được khởi tạo ngay. Tổng số
# tham số (`totals`) chỉ đếm những gì đã biết hình dạng.

# %%
s = gpk.summary(net)
for row in s.to_records():
    print(f"{row['path']:9} {str(row['shape']):12} {row['state']!r}")
print(f"đã biết {s.totals['parameters']} tham số; {s.totals['pending']} tensor chờ lượt truyền xuôi đầu tiên")
assert s["0.weight"]["state"] == "deferred" and s["0.bias"]["state"] == "initialized"

# %% [markdown]
# ## Khởi tạo trễ trong thực tế (Deferred initialization in practice)
#
# **Ô 4.** Lượt truyền xuôi đầu tiên cho biết đầu vào có 20 chiều: Gluon suy ra mọi hình dạng,
# tầng này nối tiếp tầng kia, rồi mới khởi tạo.

# %% [book:deferred-init/4]

# %% [markdown]
# **Ô 5.** Để *thấy* lúc khởi tạo xảy ra, sách dùng một bộ khởi tạo chỉ in ra tên và hình dạng
# của tham số (không gán giá trị nào). Sau `initialize` chưa có dòng nào được in.

# %% [book:deferred-init/5]

# %% [markdown]
# **Ô 6.** Các dòng `Init` xuất hiện ở lượt truyền xuôi đầu tiên, theo thứ tự các tầng.

# %% [book:deferred-init/6]

# %% [markdown]
# **Ô 7.** Lượt thứ hai không khởi tạo lại.

# %% [book:deferred-init/7]

# %% [markdown]
# ## Khởi tạo cưỡng chế (Forced initialization)
#
# **Ô 8.** Khi hình dạng đã biết, `force_reinit=True` khởi tạo lại ngay lập tức.

# %% [book:deferred-init/8]

# %% [markdown]
# **Ô 9.** Cho biết trước số chiều đầu vào (`in_units`) thì không cần hoãn: khởi tạo xảy ra ngay
# trong `initialize`.

# %% [book:deferred-init/9]

# %% [markdown]
# Ô của chúng tôi: bản tóm tắt của mạng này không còn tham số nào đang chờ.

# %%
s = gpk.summary(net)
assert all(r["state"] == "initialized" for r in s.to_records())
print(s.totals)

# %% [markdown]
# ## Tóm tắt (Summary)
#
# * Gluon cho phép khai báo tầng mà không nói số chiều đầu vào; hình dạng được suy ra ở lượt
#   truyền xuôi đầu tiên, và chỉ khi đó tham số mới được khởi tạo.
# * Trước lúc đó, truy cập giá trị của tham số (`data()`) báo lỗi `DeferredInitializationError`.
# * Biết trước số chiều (`in_units`) thì khởi tạo xảy ra ngay; `force_reinit=True` khởi tạo lại
#   một mạng đã có hình dạng.

# %% [markdown]
# ## Bài tập (Exercises)
#
# **1.** Nếu chỉ cho số chiều đầu vào của tầng đầu tiên? Tầng đầu được khởi tạo ngay; tầng sau
# vẫn phải chờ, vì số chiều đầu vào của nó chỉ được suy ra khi dữ liệu đi qua.

# %%
from mxnet import np, npx
from mxnet.gluon import nn

net = nn.Sequential()
net.add(nn.Dense(256, in_units=20, activation='relu'), nn.Dense(10))
net.initialize()
print("sau initialize():     ", {k: p.shape for k, p in gpk.named_parameters(net).items()})
net(np.ones((2, 20)))
print("sau lượt truyền xuôi: ", {k: p.shape for k, p in gpk.named_parameters(net).items()})
assert net[1].weight.shape == (10, 256)

# %% [markdown]
# **2.** Nếu các chiều không khớp? Dữ liệu 30 chiều đưa vào một tầng khai báo `in_units=20` bị từ
# chối ngay ở lượt truyền xuôi, với một lỗi về hình dạng; mạng không thay đổi gì.

# %%
import mxnet as mx

net = nn.Sequential()
net.add(nn.Dense(256, in_units=20), nn.Dense(10))
net.initialize()
try:
    net(np.ones((2, 30)))
    raised = None
except mx.base.MXNetError as exc:
    raised = str(exc).splitlines()[0]
print(raised)  # thông báo lỗi của MXNet, nguyên văn
assert raised is not None and net[0].weight.shape == (256, 20)

# %% [markdown]
# **3.** Nếu đầu vào có số chiều thay đổi? Một khi đã suy ra, hình dạng là cố định: cùng một tầng
# không nhận được cả dữ liệu 20 chiều lẫn 30 chiều. Theo gợi ý của sách, ta dùng chung tham số:
# mỗi kích thước đầu vào có tầng đầu riêng, còn các tầng sau là *cùng một* tầng (`params=`), nên
# phần mạng đó học từ mọi loại dữ liệu.

# %%
shared = nn.Dense(10)
nets = {}
for d in (20, 30):
    n = nn.Sequential()
    n.add(nn.Dense(256, in_units=d, activation='relu'), nn.Dense(10, in_units=256, params=shared.params))
    n[0].initialize()
    nets[d] = n
shared.initialize()  # tầng dùng chung: khởi tạo một lần cho cả hai mạng
out20, out30 = nets[20](np.ones((2, 20))), nets[30](np.ones((2, 30)))
print(out20.shape, out30.shape)
assert nets[20][1].weight is nets[30][1].weight and out20.shape == out30.shape == (2, 10)
