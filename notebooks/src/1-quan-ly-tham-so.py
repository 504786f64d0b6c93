# %% [markdown]
# # Quản lý Tham số (Parameter Management)
#
# Sổ tay này chạy lại, theo đúng thứ tự, từng ô mã của chương "Quản lý Tham số" trong cuốn
# *Dive into Deep Learning* (bản MXNet). Phần giải thích là của chúng tôi, viết lại bằng lời
# của mình; các ô mã là mã của sách, không sửa một ký tự. Kết quả in ra được `gluon_params_kit`
# kiểm chứng: `gluon-params chapter` chạy chính những ô này và so từng kết quả.
#
# Khi đã có một mạng, ta thường cần làm ba việc với tham số của nó: **xem** (truy cập) tham số
# để gỡ lỗi hay phân tích, **khởi tạo** chúng theo ý mình, và **dùng chung** (chia sẻ) tham số
# giữa nhiều tầng. Ta đi lần lượt qua cả ba.

# %% [markdown]
# ## Mạng mẫu (A sample network)
#
# Một perceptron đa tầng (MLP) với một tầng ẩn 256 đơn vị và tầng ra 10 đơn vị. Lưu ý
# `npx.set_np()`: từ đây mảng là `mxnet.np.ndarray`, giống NumPy.
#
# Ô đầu tiên chỉ nạp `gluon_params_kit` trước MXNet: trên numpy 1.24–1.26 (Python 3.12) nó khôi
# phục các bí danh như `numpy.bool` mà MXNet 1.9.1 cần. Nó không tạo khối nào và không rút số
# ngẫu nhiên, nên tên và giá trị bên dưới vẫn đúng như khi chạy mã của sách trong tiến trình mới.

# %%
import gluon_params_kit as gpk

# %% [book:1]

# %% [markdown]
# ## Truy cập tham số (Parameter access)
#
# Một `Sequential` cho phép lấy từng tầng bằng chỉ số, như một danh sách. Mỗi tầng giữ tham số
# của nó trong thuộc tính `params`, một `ParameterDict` ánh xạ *tên* sang `Parameter`. Tên như
# `dense0_weight` do Gluon tự đặt theo một bộ đếm dùng chung cho cả tiến trình: chạy lại ô tạo
# mạng trong cùng một kernel sẽ cho `dense2_weight`, `dense3_weight`, ...

# %% [book:2]

# %% [markdown]
# ### Một tham số cụ thể (Targeted parameters)
#
# `Parameter` là một đối tượng chứ không chỉ là một mảng: nó mang tên, hình dạng, kiểu dữ liệu,
# giá trị (`data()`) và gradient (`grad()`). Tầng `Dense` còn cho truy cập trực tiếp qua thuộc
# tính `weight` và `bias`.

# %% [book:3]

# %% [markdown]
# Cũng có thể tra theo tên trong `params`:

# %% [book:4]

# %% [markdown]
# Chưa gọi lan truyền ngược thì gradient vẫn bằng 0, cùng hình dạng với trọng số:

# %% [book:5]

# %% [markdown]
# ### Mọi tham số cùng lúc (All parameters at once)
#
# `collect_params()` gom tham số của một khối và mọi khối con của nó.

# %% [book:6]

# %% [markdown]
# Kết quả lại là một `ParameterDict`, nên có thể tra theo tên:

# %% [book:7]

# %% [markdown]
# `collect_params` còn nhận một biểu thức chính quy. Gluon dùng `re.match`, tức là mẫu phải
# khớp *từ đầu* tên; vì vậy sách viết `'.*weight'` chứ không phải `'weight'`.

# %% [book:8]

# %% [markdown]
# ## Khối lồng nhau (Collecting parameters from nested blocks)
#
# Khi các khối lồng vào nhau, tham số được đặt tên và gom lại theo cấu trúc cây.

# %% [book:rgnet]

# %% [book:rgnet-print]

# %% [markdown]
# Các tầng lồng nhau được đánh chỉ số như danh sách lồng nhau: đây là bias của tầng đầu tiên
# trong khối con thứ hai của khối thứ nhất.

# %% [book:rgnet-bias]

# %% [markdown]
# Cùng tham số đó, theo **đường dẫn cấu trúc** (structural path) mà `gluon_params_kit` dùng:
# đường dẫn không phụ thuộc bộ đếm tên, nên giống nhau ở mọi tiến trình.

# %%
assert gpk.get(rgnet, "0.1.0.bias") is rgnet[0][1][0].bias
assert gpk.get(rgnet, "rgnet[0][1][0].bias") is rgnet[0][1][0].bias
gpk.path_of(rgnet, rgnet[0][1][0].bias), rgnet[0][1][0].bias.name

# %% [markdown]
# ## Khởi tạo tham số (Parameter initialization)
#
# ### Bộ khởi tạo có sẵn (Built-in initialization)
#
# `force_reinit=True` buộc khởi tạo lại dù tham số đã có giá trị. Ở đây mọi trọng số lấy từ
# phân phối chuẩn độ lệch chuẩn 0.01; bias vẫn bằng 0 vì bộ khởi tạo riêng của tầng (`zeros`)
# được ưu tiên hơn bộ khởi tạo chung.

# %% [book:9]

# %%
w = net[0].weight.data().asnumpy()
print("std =", w.std())
assert abs(w.std() - 0.01) < 5e-4

# %% [book:10]

# %% [markdown]
# ### Mỗi khối một bộ khởi tạo (Different initializers per block)
#
# Tầng đầu dùng Xavier, tầng sau dùng hằng số 42.

# %% [book:11]

# %% [markdown]
# ### Bộ khởi tạo tự viết (Custom initialization)
#
# Lớp con của `init.Initializer` chỉ cần định nghĩa `_init_weight`. `MyInit` lấy mẫu đều trên
# [-10, 10] rồi đặt về 0 mọi giá trị có trị tuyệt đối nhỏ hơn 5: khoảng một nửa số trọng số
# bằng 0, một phần tư nằm trong [5, 10], một phần tư trong [-10, -5].

# %% [book:12]

# %%
w = net[0].weight.data().asnumpy()
print("tỉ lệ 0:", (w == 0).mean(), " dương:", (w >= 5).mean(), " âm:", (w <= -5).mean())
assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()

# %% [markdown]
# ### Đặt giá trị trực tiếp (Setting parameters directly)

# %% [book:13]

# %% [markdown]
# ## Tham số dùng chung (Tied parameters)
#
# Truyền `params=shared.params` khi tạo tầng thứ ba làm nó dùng *chính* các đối tượng
# `Parameter` của tầng thứ hai: sửa một bên thì bên kia thấy ngay.

# %% [book:14]

# %%
assert net[1].weight is net[2].weight  # cùng một đối tượng, không chỉ bằng giá trị
gpk.path_of(net, net[2].weight, all_paths=True)

# %% [markdown]
# ## Bài tập (Exercises)
#
# Mỗi bài được trả lời bằng mã trong `gluon_params_kit.exercises`; các ô `assert` kiểm chứng câu trả lời.
#
# **1.** Tham số của `FixedHiddenMLP`: `rand_weight` là một hằng (`grad_req='null'`, không bao
# giờ được cập nhật); tầng `Dense` duy nhất được dùng hai lần mỗi lượt truyền xuôi.

# %%
from gluon_params_kit import exercises as ex

info = ex.fixed_hidden_mlp_parameters()
for path, row in info.items():
    print(f"{path:13} {row['name']:30} {str(row['shape']):9} grad_req={row['grad_req']:5} uses={row['uses']}")
assert info["rand_weight"]["grad_req"] == "null" and info["dense.weight"]["uses"] == 2

# %% [markdown]
# **2.** Mỗi bộ khởi tạo có sẵn, và tính chất định nghĩa nó, được đo lại.

# %%
rows = ex.initializer_properties()
for r in rows:
    print(f"{r['name']:16} {r['property']:52} đo được {r['measured']:.5f}  {'đúng' if r['ok'] else 'SAI'}")
assert all(r["ok"] for r in rows)

# %% [markdown]
# **3.** Trước lượt truyền xuôi đầu tiên, chiều đầu vào chưa biết (-1 ở chế độ np, 0 ở chế độ nd),
# và `data()` báo `DeferredInitializationError`. Sau lượt truyền xuôi, hình dạng được suy ra.

# %%
r = ex.deferred_init_demo()
print(r)
assert r["before"]["0.weight"] == (256, -1) and r["after"]["0.weight"] == (256, 20)
assert r["data_error"] == "DeferredInitializationError"

# %% [markdown]
# **4.** Huấn luyện MLP có tầng dùng chung. Ở mỗi bước, gradient của trọng số dùng chung bằng
# tổng gradient của hai lần dùng (đo trên một bản sao không dùng chung có cùng giá trị).

# %%
log = ex.train_shared_mlp(steps=5)
for i, step in enumerate(log):
    u1, u2 = step["use_grad_norms"]
    print(f"bước {i}: loss={step['loss']:.4f}  |g chung|={step['shared_grad_norm']:.4f}  "
          f"|g lần 1|={u1:.4f}  |g lần 2|={u2:.4f}  sai khác={step['max_abs_diff']:.1e}")
assert all(s["max_abs_diff"] < 1e-6 for s in log) and log[-1]["loss"] < log[0]["loss"]

# %% [markdown]
# **5.** Dùng chung tiết kiệm bao nhiêu tham số? Với mạng ở ô 14: đúng một tầng Dense(8)
# với đầu vào 8 chiều, tức 8×8 + 8 = 72 giá trị.

# %%
saved = ex.sharing_savings(net)
print(saved)
assert saved["saved"] == 8 * 8 + 8
