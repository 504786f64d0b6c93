# %% [markdown vi]
# # Quản lý Tham số (Parameter Management)
#
# Sổ tay này chạy lại, theo đúng thứ tự, cả 17 ô mã của chương "Quản lý Tham số" trong cuốn
# *Dive into Deep Learning* (bản MXNet, tiếng Việt). Các ô của sách được đánh số 1 đến 17 như
# trong sách và giữ nguyên từng ký tự, kể cả chú thích; phần giải thích là lời của chúng tôi.
# Những ô còn lại (ô chuẩn bị đầu tiên, các ô kiểm chứng và lời giải bài tập) là của chúng tôi
# và được ghi rõ như vậy. `gluon-params chapter` chạy chính những ô của sách, so từng kết quả với
# mã của sách chạy trong một tiến trình mới, và kiểm chứng từng sự kiện.
#
# Khi đã có một mạng, ta thường cần làm ba việc với tham số của nó: **xem** (truy cập) tham số
# để gỡ lỗi hay phân tích, **khởi tạo** chúng theo ý mình, và **dùng chung** (chia sẻ) tham số
# giữa nhiều tầng. Ta đi lần lượt qua cả ba.

# %% [markdown en]
# # Parameter Management
#
# This notebook replays, in order, all 17 code cells of the chapter "Parameter Management" of
# *Dive into Deep Learning* (MXNet edition). The book's cells are numbered 1 to 17 as in the
# book and kept character for character, comments included; the explanations are our own.
# The other cells (the first set-up cell, the check cells and the exercise answers) are ours
# and say so. `gluon-params chapter` runs the same book cells, compares each output with the
# book's code run in a fresh process, and verifies each fact.
#
# Once we have a network we usually need three things from its parameters: to **look** at
# them (access) for debugging or analysis, to **initialize** them as we choose, and to **share**
# (tie) them between layers. We take the three in turn.

# %% [markdown vi]
# ## Mạng mẫu (A sample network)
#
# Ô chuẩn bị (của chúng tôi, không phải của sách): nạp `gluon_params_kit` trước MXNet để khôi
# phục các bí danh như `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12),
# mà không tạo khối nào hay rút số ngẫu nhiên nào.

# %% [markdown en]
# ## A sample network
#
# Set-up cell (ours, not the book's): importing `gluon_params_kit` before MXNet restores the
# aliases such as `numpy.bool` that MXNet 1.9.1 needs with numpy 1.26 (Python 3.12), without
# creating a block or drawing a random number.

# %%
import gluon_params_kit as gpk

# %% [markdown vi]
# **Ô 1 của sách.** Một perceptron đa tầng (MLP) với một tầng ẩn 256 đơn vị và tầng ra 10 đơn
# vị. Lưu ý `npx.set_np()`: từ đây mảng là `mxnet.np.ndarray`, giống NumPy.

# %% [markdown en]
# **Book cell 1.** A multilayer perceptron (MLP) with one hidden layer of 256 units and an
# output layer of 10. Note `npx.set_np()`: from here on, arrays are `mxnet.np.ndarray`, as in NumPy.

# %% [book:1]

# %% [markdown vi]
# ## Truy cập tham số (Parameter access)
#
# **Ô 2.** Một `Sequential` cho phép lấy từng tầng bằng chỉ số, như một danh sách. Mỗi tầng giữ
# tham số của nó trong thuộc tính `params`, một `ParameterDict` ánh xạ *tên* sang `Parameter`.
# Tên như `dense0_weight` do Gluon tự đặt theo một bộ đếm dùng chung cho cả tiến trình: chạy lại
# ô tạo mạng trong cùng một kernel sẽ cho `dense2_weight`, `dense3_weight`, ...

# %% [markdown en]
# ## Parameter access
#
# **Cell 2.** A `Sequential` gives each layer by index, like a list. Each layer keeps its
# parameters in its `params` attribute, a `ParameterDict` from *name* to `Parameter`. Names
# such as `dense0_weight` come from a counter Gluon shares across the whole process: running
# the cell that builds the net again in the same kernel gives `dense2_weight`, `dense3_weight`, ...

# %% [book:2]

# %% [markdown vi]
# ### Một tham số cụ thể (Targeted parameters)
#
# **Ô 3.** `Parameter` là một đối tượng chứ không chỉ là một mảng: nó mang tên, hình dạng, kiểu
# dữ liệu, giá trị (`data()`) và gradient (`grad()`). Tầng `Dense` còn cho truy cập trực tiếp
# qua thuộc tính `weight` và `bias`.

# %% [markdown en]
# ### Targeted parameters
#
# **Cell 3.** A `Parameter` is an object, not just an array: it carries a name, a shape, a
# dtype, a value (`data()`) and a gradient (`grad()`). A `Dense` layer also gives them directly
# as its `weight` and `bias` attributes.

# %% [book:3]

# %% [markdown vi]
# **Ô 4.** Cũng có thể tra theo tên trong `params`:

# %% [markdown en]
# **Cell 4.** They can also be looked up by name in `params`:

# %% [book:4]

# %% [markdown vi]
# **Ô 5.** Chưa gọi lan truyền ngược thì gradient vẫn bằng 0, cùng hình dạng với trọng số:

# %% [markdown en]
# **Cell 5.** Before any backward pass the gradient is all zeros, with the weight's shape:

# %% [book:5]

# %% [markdown vi]
# ### Mọi tham số cùng lúc (All parameters at once)
#
# **Ô 6.** `collect_params()` gom tham số của một khối và mọi khối con của nó.

# %% [markdown en]
# ### All parameters at once
#
# **Cell 6.** `collect_params()` gathers the parameters of a block and of all its children.

# %% [book:6]

# %% [markdown vi]
# **Ô 7.** Kết quả lại là một `ParameterDict`, nên có thể tra theo tên:

# %% [markdown en]
# **Cell 7.** The result is again a `ParameterDict`, so it can be indexed by name:

# %% [book:7]

# %% [markdown vi]
# **Ô 8.** `collect_params` còn nhận một biểu thức chính quy. Gluon dùng `re.match`, tức là mẫu
# phải khớp *từ đầu* tên; vì vậy sách viết `'.*weight'` chứ không phải `'weight'`.

# %% [markdown en]
# **Cell 8.** `collect_params` also takes a regular expression. Gluon uses `re.match`, so the
# pattern must match from the *start* of the name: that is why the book writes `'.*weight'`
# and not `'weight'`.

# %% [book:8]

# %% [markdown vi]
# ## Khối lồng nhau (Collecting parameters from nested blocks)
#
# **Ô 9 và 10.** Khi các khối lồng vào nhau, tham số được đặt tên và gom lại theo cấu trúc cây.

# %% [markdown en]
# ## Collecting parameters from nested blocks
#
# **Cells 9 and 10.** When blocks nest, parameters are named and gathered along the tree.

# %% [book:9]

# %% [book:10]

# %% [markdown vi]
# **Ô 11.** Các tầng lồng nhau được đánh chỉ số như danh sách lồng nhau: đây là bias của tầng
# đầu tiên trong khối con thứ hai của khối thứ nhất.

# %% [markdown en]
# **Cell 11.** Nested layers are indexed like nested lists: this is the bias of the first
# layer of the second sub-block of the first block.

# %% [book:11]

# %% [markdown vi]
# Ô của chúng tôi: cùng tham số đó, theo **đường dẫn cấu trúc** (structural path) mà
# `gluon_params_kit` dùng. Đường dẫn không phụ thuộc bộ đếm tên, nên giống nhau ở mọi tiến trình.

# %% [markdown en]
# Our cell: the same parameter by the **structural path** `gluon_params_kit` uses. A path does
# not depend on the name counter, so it is the same in every process.

# %%
assert gpk.get(rgnet, "0.1.0.bias") is rgnet[0][1][0].bias
assert gpk.get(rgnet, "rgnet[0][1][0].bias") is rgnet[0][1][0].bias
gpk.path_of(rgnet, rgnet[0][1][0].bias), rgnet[0][1][0].bias.name

# %% [markdown vi]
# ## Khởi tạo tham số (Parameter initialization)
#
# ### Bộ khởi tạo có sẵn (Built-in initialization)
#
# **Ô 12.** `force_reinit=True` buộc khởi tạo lại dù tham số đã có giá trị. Ở đây mọi trọng số
# lấy từ phân phối chuẩn độ lệch chuẩn 0.01; bias vẫn bằng 0 vì bộ khởi tạo riêng của tầng
# (`zeros`) được ưu tiên hơn bộ khởi tạo chung.

# %% [markdown en]
# ## Parameter initialization
#
# ### Built-in initialization
#
# **Cell 12.** `force_reinit=True` initializes again even though the parameters have values.
# Every weight is drawn from a normal law of standard deviation 0.01; the biases stay 0 because
# the layer's own initializer (`zeros`) wins over the global one.

# %% [book:12]

# %% [markdown vi]
# Ô kiểm chứng của chúng tôi:

# %% [markdown en]
# Our check:

# %%
w = net[0].weight.data().asnumpy()
print("std =", w.std())
assert abs(w.std() - 0.01) < 5e-4

# %% [markdown vi]
# **Ô 13.** Mọi trọng số bằng đúng 1:

# %% [markdown en]
# **Cell 13.** Every weight exactly 1:

# %% [book:13]

# %% [markdown vi]
# ### Mỗi khối một bộ khởi tạo (Different initializers per block)
#
# **Ô 14.** Tầng đầu dùng Xavier, tầng sau dùng hằng số 42; sách in một phần tử của tầng sau.

# %% [markdown en]
# ### Different initializers per block
#
# **Cell 14.** The first layer gets Xavier, the second the constant 42; the book prints one
# element of the second.

# %% [book:14]

# %% [markdown vi]
# Ô kiểm chứng của chúng tôi: Xavier (phân phối đều) giới hạn trong $\pm\sqrt{3 / ((n_{in} + n_{out}) / 2)}$.

# %% [markdown en]
# Our check: Xavier (uniform) stays within $\pm\sqrt{3 / ((n_{in} + n_{out}) / 2)}$.

# %%
w = net[0].weight.data().asnumpy()
bound = (3 / ((20 + 256) / 2)) ** 0.5
print("max |w| =", abs(w).max(), "<=", bound)
assert abs(w).max() <= bound and (net[1].weight.data().asnumpy() == 42).all()

# %% [markdown vi]
# ### Bộ khởi tạo tự viết (Custom initialization)
#
# **Ô 15.** Lớp con của `init.Initializer` chỉ cần định nghĩa `_init_weight`. `MyInit` lấy mẫu
# đều trên [-10, 10] rồi đặt về 0 mọi giá trị có trị tuyệt đối nhỏ hơn 5: khoảng một nửa số
# trọng số bằng 0, một phần tư nằm trong [5, 10], một phần tư trong [-10, -5].

# %% [markdown en]
# ### Custom initialization
#
# **Cell 15.** A subclass of `init.Initializer` only needs `_init_weight`. `MyInit` draws
# uniformly from [-10, 10] and then sets to 0 every value whose magnitude is below 5: about
# half the weights are 0, a quarter lie in [5, 10], a quarter in [-10, -5].

# %% [book:15]

# %% [markdown vi]
# Ô kiểm chứng của chúng tôi (tỉ lệ số 0, số dương, số âm):

# %% [markdown en]
# Our check (fractions of zeros, positives, negatives):

# %%
w = net[0].weight.data().asnumpy()
print("0:", (w == 0).mean(), " +:", (w >= 5).mean(), " -:", (w <= -5).mean())
assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()

# %% [markdown vi]
# ### Đặt giá trị trực tiếp (Setting parameters directly)
#
# **Ô 16.** `data()` trả về chính mảng của tham số, nên có thể gán vào nó.

# %% [markdown en]
# ### Setting parameters directly
#
# **Cell 16.** `data()` returns the parameter's own array, so it can be assigned to.

# %% [book:16]

# %% [markdown vi]
# ## Tham số dùng chung (Tied parameters)
#
# **Ô 17.** Truyền `params=shared.params` khi tạo tầng thứ ba làm nó dùng *chính* các đối tượng
# `Parameter` của tầng thứ hai: sửa một bên thì bên kia thấy ngay.

# %% [markdown en]
# ## Tied parameters
#
# **Cell 17.** Passing `params=shared.params` to the third layer makes it use the second
# layer's *own* `Parameter` objects: a change through one is seen through the other.

# %% [book:17]

# %% [markdown vi]
# Ô của chúng tôi: cùng một đối tượng, có hai đường dẫn.

# %% [markdown en]
# Our cell: one object, two paths.

# %%
assert net[1].weight is net[2].weight
gpk.path_of(net, net[2].weight, all_paths=True)

# %% [markdown vi]
# ## Tóm tắt (Summary)
#
# * Tham số của một mạng Gluon được lấy theo tầng (`net[i].params`, `net[i].weight`), theo tên
#   (`params['dense0_weight']`) hoặc cả mạng một lần (`collect_params()`, có thể lọc bằng biểu
#   thức chính quy); mỗi `Parameter` giữ cả giá trị lẫn gradient.
# * Khởi tạo dùng các bộ có sẵn trong `init` (chuẩn, hằng số, Xavier...), cho cả mạng hay cho
#   từng khối, hoặc một lớp con của `init.Initializer` tự viết; `force_reinit=True` để khởi tạo lại.
# * Nhiều tầng có thể dùng chung một bộ tham số (`params=`): chúng là cùng một đối tượng, và
#   gradient của mọi lần dùng được cộng dồn vào đó.

# %% [markdown en]
# ## Summary
#
# * A Gluon network's parameters are reached per layer (`net[i].params`, `net[i].weight`), by
#   name (`params['dense0_weight']`) or all at once (`collect_params()`, optionally filtered by
#   a regular expression); each `Parameter` holds both its value and its gradient.
# * Initialization uses the built-in rules of `init` (normal, constant, Xavier...), for the
#   whole net or per block, or a subclass of `init.Initializer` of our own; `force_reinit=True`
#   initializes again.
# * Several layers can share one set of parameters (`params=`): they are the same objects, and
#   the gradients of every use add up in them.

# %% [markdown vi]
# ## Bài tập (Exercises)
#
# Mỗi bài được trả lời ngay trong ô mã của nó: vài dòng dựng mạng, chạy và in ra điều cần thấy,
# để bạn đọc đổi thử (số tầng, bộ khởi tạo, số bước huấn luyện...) rồi chạy lại. Phép kiểm chứng
# ở cuối ô ngắn gọn. Cùng các lời giải ấy, viết thành hàm có kiểm thử, nằm trong
# `gluon_params_kit.exercises`.
#
# **1.** Tham số của `FixedHiddenMLP` (mục "Tầng và Khối"): `rand_weight` là một hằng
# (`grad_req='null'`, không bao giờ được cập nhật). `gpk.tied_groups(net, x)` chạy một lượt truyền
# xuôi và đếm mỗi tham số được đọc mấy lần: tầng `Dense` duy nhất được gọi hai lần, hằng số một lần.

# %% [markdown en]
# ## Exercises
#
# Each exercise is answered in its own code cell: a few lines that build a net, run it and print
# what there is to see, for you to change (the layers, the initializer, the number of training
# steps...) and run again. The check at the end of a cell is short. The same answers, written as
# tested functions, are in `gluon_params_kit.exercises`.
#
# **1.** The parameters of `FixedHiddenMLP` (section "Layers and Blocks"): `rand_weight` is a
# constant (`grad_req='null'`, never updated). `gpk.tied_groups(net, x)` runs one forward pass and
# counts how often each parameter is read: the one `Dense` layer is called twice, the constant once.

# %% [vi]
from gluon_params_kit.chapter import FixedHiddenMLP

fixed = FixedHiddenMLP()
fixed.initialize()
x = np.random.uniform(size=(2, 20))
fixed(x)
uses = gpk.tied_groups(fixed, x)  # chỉ liệt kê tham số được đọc nhiều lần
for path, p in gpk.named_parameters(fixed).items():
    n = uses[path].uses if path in uses else 1
    print(f"{path:13} {str(p.shape):9} grad_req={p.grad_req:6} số lần dùng={n}")
assert fixed.rand_weight.grad_req == "null" and uses["dense.weight"].uses == 2

# %% [en]
from gluon_params_kit.chapter import FixedHiddenMLP

fixed = FixedHiddenMLP()
fixed.initialize()
x = np.random.uniform(size=(2, 20))
fixed(x)
uses = gpk.tied_groups(fixed, x)  # lists only the parameters read more than once
for path, p in gpk.named_parameters(fixed).items():
    n = uses[path].uses if path in uses else 1
    print(f"{path:13} {str(p.shape):9} grad_req={p.grad_req:6} uses={n}")
assert fixed.rand_weight.grad_req == "null" and uses["dense.weight"].uses == 2

# %% [markdown vi]
# **2.** Các bộ khởi tạo có sẵn trong `init`: mỗi bộ được dùng cho một tham số $64\times128$, và
# tính chất định nghĩa nó (giá trị lý thuyết) được in cạnh giá trị đo được. Hàm `draw` tạo một
# `Parameter` đứng riêng, khởi tạo nó và trả về mảng NumPy; thêm một dòng vào danh sách để thử một
# bộ khởi tạo khác.

# %% [markdown en]
# **2.** The built-in initializers of `init`: each one fills a $64\times128$ parameter, and the
# property that defines it (the value in theory) is printed beside the value measured. `draw`
# makes a stand-alone `Parameter`, initializes it and returns a NumPy array; add a line to the
# list to try another initializer.

# %% [vi]
import numpy as onp
from mxnet import gluon


def draw(initializer, shape=(64, 128)):
    p = gluon.Parameter("w", shape=shape)
    p.initialize(init=initializer)
    return p.data().asnumpy()


fan_avg = (64 + 128) / 2
for name, initializer, theory, measure in [
    ("Zero", init.Zero(), "mọi giá trị = 0", lambda w: abs(w).max()),
    ("Constant(0.5)", init.Constant(0.5), "mọi giá trị = 0.5", lambda w: w.mean()),
    ("Uniform(0.07)", init.Uniform(0.07), f"độ lệch chuẩn = 0.07/sqrt(3) = {0.07 / 3 ** 0.5:.4f}",
     lambda w: w.std()),
    ("Normal(0.02)", init.Normal(0.02), "độ lệch chuẩn = 0.02", lambda w: w.std()),
    ("Orthogonal(1)", init.Orthogonal(scale=1.0), "max |W W^T - I| = 0", lambda w: abs(w @ w.T - onp.eye(64)).max()),
    ("Xavier", init.Xavier(), f"max |w| = sqrt(3/fan_avg) = {(3 / fan_avg) ** 0.5:.4f}", lambda w: abs(w).max()),
    ("MSRAPrelu(0.25)", init.MSRAPrelu(slope=0.25),
     f"độ lệch chuẩn = sqrt(2/(1+0.25²)/fan_avg) = {(2 / 1.0625 / fan_avg) ** 0.5:.4f}", lambda w: w.std()),
]:
    print(f"{name:16} lý thuyết: {theory:50} đo được: {measure(draw(initializer)):.4f}")

# %% [en]
import numpy as onp
from mxnet import gluon


def draw(initializer, shape=(64, 128)):
    p = gluon.Parameter("w", shape=shape)
    p.initialize(init=initializer)
    return p.data().asnumpy()


fan_avg = (64 + 128) / 2
for name, initializer, theory, measure in [
    ("Zero", init.Zero(), "every value = 0", lambda w: abs(w).max()),
    ("Constant(0.5)", init.Constant(0.5), "every value = 0.5", lambda w: w.mean()),
    ("Uniform(0.07)", init.Uniform(0.07), f"standard deviation = 0.07/sqrt(3) = {0.07 / 3 ** 0.5:.4f}",
     lambda w: w.std()),
    ("Normal(0.02)", init.Normal(0.02), "standard deviation = 0.02", lambda w: w.std()),
    ("Orthogonal(1)", init.Orthogonal(scale=1.0), "max |W W^T - I| = 0", lambda w: abs(w @ w.T - onp.eye(64)).max()),
    ("Xavier", init.Xavier(), f"max |w| = sqrt(3/fan_avg) = {(3 / fan_avg) ** 0.5:.4f}", lambda w: abs(w).max()),
    ("MSRAPrelu(0.25)", init.MSRAPrelu(slope=0.25),
     f"standard deviation = sqrt(2/(1+0.25²)/fan_avg) = {(2 / 1.0625 / fan_avg) ** 0.5:.4f}", lambda w: w.std()),
]:
    print(f"{name:16} in theory: {theory:50} measured: {measure(draw(initializer)):.4f}")

# %% [markdown vi]
# **3.** Một mạng chưa biết số chiều đầu vào: sau `initialize()`, chiều đó hiện là `-1` (chế độ
# np; 0 ở chế độ nd), và đọc giá trị bằng `data()` báo `DeferredInitializationError`. Lượt truyền
# xuôi đầu tiên suy ra mọi hình dạng.

# %% [markdown en]
# **3.** A net that does not know its input size: after `initialize()` that dimension shows as
# `-1` (np mode; 0 in nd mode), and reading a value with `data()` raises
# `DeferredInitializationError`. The first forward pass infers every shape.

# %% [vi]
from mxnet.gluon.parameter import DeferredInitializationError

lazy = nn.Sequential()
lazy.add(nn.Dense(256, activation='relu'), nn.Dense(10))
lazy.initialize()
print("trước lượt truyền xuôi:", {k: p.shape for k, p in gpk.named_parameters(lazy).items()})
try:
    lazy[0].weight.data()
except DeferredInitializationError as err:
    print("data() báo lỗi", type(err).__name__)
lazy(np.random.uniform(size=(2, 20)))
print("sau lượt truyền xuôi: ", {k: p.shape for k, p in gpk.named_parameters(lazy).items()})
assert lazy[0].weight.shape == (256, 20)

# %% [en]
from mxnet.gluon.parameter import DeferredInitializationError

lazy = nn.Sequential()
lazy.add(nn.Dense(256, activation='relu'), nn.Dense(10))
lazy.initialize()
print("before the forward pass:", {k: p.shape for k, p in gpk.named_parameters(lazy).items()})
try:
    lazy[0].weight.data()
except DeferredInitializationError as err:
    print("data() raises", type(err).__name__)
lazy(np.random.uniform(size=(2, 20)))
print("after the forward pass: ", {k: p.shape for k, p in gpk.named_parameters(lazy).items()})
assert lazy[0].weight.shape == (256, 20)

# %% [markdown vi]
# **4.** Huấn luyện một MLP có tầng dùng chung (như ở ô 17) và, ở mỗi bước, xem chuẩn của trọng
# số và của gradient từng tầng, trước khi cập nhật. Tầng 2 dùng tham số của tầng 1 nên hai dòng của
# chúng trùng nhau: gradient của tham số chung là *tổng* gradient của hai lần dùng.
# `gpk.check_tied_gradients` chứng minh điều đó bằng một bản sao không dùng chung có cùng giá trị.

# %% [markdown en]
# **4.** Train an MLP with a shared layer (as in cell 17) and, at every step, look at the norm of
# each layer's weight and of its gradient, before the update. Layer 2 uses layer 1's parameters,
# so their rows are the same: the shared parameter's gradient is the *sum* of the two uses'
# gradients. `gpk.check_tied_gradients` proves it with an untied copy holding the same values.

# %% [vi]
from mxnet import autograd

tied = nn.Sequential()
shared = nn.Dense(8, activation='relu')
tied.add(nn.Dense(8, activation='relu'), shared, nn.Dense(8, activation='relu', params=shared.params), nn.Dense(10))
tied.initialize(init.Xavier())
X, Y = np.random.uniform(size=(16, 20)), np.random.uniform(size=(16, 10))
trainer = gluon.Trainer(tied.collect_params(), 'sgd', {'learning_rate': 0.1})
print("bước  mất mát  tầng  |trọng số|  |gradient|")
for step in range(3):
    with autograd.record():
        loss = ((tied(X) - Y) ** 2).mean()
    loss.backward()
    for i, layer in enumerate(tied):
        w, g = float(np.linalg.norm(layer.weight.data())), float(np.linalg.norm(layer.weight.grad()))
        print(f"{step:<5} {float(loss):.5f}  {i:<4}  {w:10.4f}  {g:10.6f}")
    trainer.step(1)
diffs = gpk.check_tied_gradients(tied, X, lambda out: ((out - Y) ** 2).mean())
print("|gradient chung - tổng gradient của từng lần dùng|, lớn nhất:", dict(diffs))

# %% [en]
from mxnet import autograd

tied = nn.Sequential()
shared = nn.Dense(8, activation='relu')
tied.add(nn.Dense(8, activation='relu'), shared, nn.Dense(8, activation='relu', params=shared.params), nn.Dense(10))
tied.initialize(init.Xavier())
X, Y = np.random.uniform(size=(16, 20)), np.random.uniform(size=(16, 10))
trainer = gluon.Trainer(tied.collect_params(), 'sgd', {'learning_rate': 0.1})
print("step  loss     layer |weight|    |gradient|")
for step in range(3):
    with autograd.record():
        loss = ((tied(X) - Y) ** 2).mean()
    loss.backward()
    for i, layer in enumerate(tied):
        w, g = float(np.linalg.norm(layer.weight.data())), float(np.linalg.norm(layer.weight.grad()))
        print(f"{step:<5} {float(loss):.5f}  {i:<4}  {w:10.4f}  {g:10.6f}")
    trainer.step(1)
diffs = gpk.check_tied_gradients(tied, X, lambda out: ((out - Y) ** 2).mean())
print("|shared gradient - sum of the uses' gradients|, largest:", dict(diffs))

# %% [markdown vi]
# **5.** Vì sao nên dùng chung tham số? Ít giá trị hơn để lưu và học: với mạng ở ô 17, đúng một
# tầng Dense(8) với đầu vào 8 chiều, tức 8×8 + 8 = 72 giá trị, như ô dưới đây đếm. Mọi lần dùng cùng
# dạy một bộ trọng số (gradient cộng dồn, bài 4), nên tầng học cùng lúc từ mọi chỗ nó được dùng. Và
# nó nói lên điều ta muốn mô hình làm: cùng một phép biến đổi ở nhiều chỗ (cùng một bộ lọc ở mọi vị
# trí của ảnh, cùng một ô ở mọi bước thời gian, một embedding chung cho đầu vào và đầu ra của mô hình
# ngôn ngữ), một giả định giúp cần ít dữ liệu hơn và tổng quát hoá tốt hơn.

# %% [markdown en]
# **5.** Why share parameters? Fewer values to store and learn: with the net of cell 17, exactly
# one Dense(8) layer with 8 inputs, 8×8 + 8 = 72 values, as the cell below counts. Every use
# teaches the same weights (the gradients add up, exercise 4), so the layer learns from every place
# it sits in at once. And it says what we want the model to do: the same transformation in several
# places (one filter at every position of an image, one cell at every time step, one embedding for
# a language model's input and output), an assumption that needs less data and generalizes better.

# %% [vi]
every_use = sum(p.data().size for p in gpk.named_parameters(net, aliases=True).values())
stored = sum(p.data().size for p in gpk.named_parameters(net).values())
print(f"không dùng chung: {every_use} giá trị; dùng chung: {stored} giá trị (bớt {every_use - stored})")
assert every_use - stored == 8 * 8 + 8

# %% [en]
every_use = sum(p.data().size for p in gpk.named_parameters(net, aliases=True).values())
stored = sum(p.data().size for p in gpk.named_parameters(net).values())
print(f"without sharing: {every_use} values; with sharing: {stored} values ({every_use - stored} fewer)")
assert every_use - stored == 8 * 8 + 8
