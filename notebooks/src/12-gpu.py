# %% [markdown]
# # GPU (GPUs)
#
# Mục này của *Dive into Deep Learning* (bản MXNet, tiếng Việt) nói về *bối cảnh* (context) của
# mảng và của tham số: mỗi mảng nằm trên một thiết bị (CPU hoặc một GPU cụ thể), phép toán chạy
# ở nơi các toán hạng nằm, và dữ liệu chỉ đổi chỗ khi ta yêu cầu. Sổ tay chạy lại 15 ô mã của
# sách, đánh số 1 đến 15 như trong sách và giữ nguyên từng ký tự; lời giải thích là của chúng tôi.
# Các ô khác (ô chuẩn bị, các ô dùng `gluon_params_kit`, lời giải bài tập) là của chúng tôi và được
# ghi rõ. `gluon-params chapter --section use-gpu` chạy chính các ô của sách, kiểm chứng từng kết
# quả theo số GPU của máy đang chạy, và so với mã của sách chạy trong tiến trình mới.

# %% [markdown]
# ## Máy này không có GPU: kết quả nào khác bản in của sách, và vì sao
#
# Sách chạy các ô này trên một máy có GPU NVIDIA (sách nói cần ít nhất hai GPU cho mục này). Máy
# chạy sổ tay này, và máy CI, không có GPU nào. Mã của sách vẫn chạy trọn vẹn nhờ chính hàm
# `try_gpu` của sách: khi không có `gpu(i)`, hàm trả về `cpu(0)`. Vì thế các kết quả sau đây
# khác với bản in của sách, và chỉ khác ở những điểm này:
#
# * **Ô 1** (`!nvidia-smi`): sách in bảng của `nvidia-smi` (các card đồ hoạ, phiên bản driver, bộ
#   nhớ đang dùng). Ở đây không có chương trình `nvidia-smi`, nên shell của Jupyter in thông báo
#   lỗi của nó (trên máy này: `/bin/bash: line 1: nvidia-smi: command not found`; câu chữ tuỳ
#   shell). Lệnh `gluon-params chapter --section use-gpu` thì in một câu cố định thay cho thông báo
#   đó: `nvidia-smi: not found on this machine, so this shell line shows nothing else`. Trên máy có
#   `nvidia-smi`, cả hai đều in bảng thật của nó.
# * **Ô 3**: `npx.num_gpus()` là `0` ở đây; trên máy của sách là số GPU của máy đó.
# * **Ô 4 và 15**: ở đây mọi bối cảnh mà `try_gpu`/`try_all_gpus` trả về đều là `cpu(0)`; trên máy
#   của sách, `try_gpu()` là `gpu(0)` và `try_all_gpus()` liệt kê các GPU, nên trọng số của ô 15
#   nằm ở `gpu(0)`.
# * **Ô 6, 7, 9, 10, 14**: mảng nằm trên GPU được hiển thị kèm bối cảnh (`..., ctx=gpu(0))`),
#   và **ô 8** in kèm `@gpu(0)`, `@gpu(1)` như sách mô tả. Mảng trên CPU thì không kèm gì, nên ở
#   đây không thấy bối cảnh nào trong các kết quả ấy.
# * **Ô 7** (và do đó ô 9, cũng như kết quả ô 14): các số ngẫu nhiên khác. Sách lấy chúng từ bộ
#   sinh số ngẫu nhiên của GPU; ở đây chúng đến từ bộ sinh của CPU, trong trạng thái của một tiến
#   trình mới. Chúng tôi không chép lại các số của sách; các ô kiểm chứng quan hệ giữa các giá trị
#   (`y + z` bằng `y + 1`, `net(x)` bằng $xW^\top + b$), không so chữ số in ra.
# * **Ô 10**: trên máy của sách, `x` nằm ở `gpu(0)` nên `x.as_in_ctx(try_gpu(1))` thực sự sao
#   chép sang `gpu(1)`. Ở đây `x` đã ở `cpu(0)`, đúng bối cảnh được yêu cầu, nên `as_in_ctx` trả
#   về chính `x`: `z` và `x` là cùng một mảng.
# * **Ô 2, 5, 11, 12, 13** cho kết quả như sách: đặt tên một bối cảnh GPU (`npx.gpu(1)`) không cần
#   có GPU, mảng tạo ra không kèm `ctx=` thì ở `cpu(0)` trên mọi máy, rồi `True`, `False`, và ô 13
#   không in gì.

# %% [markdown]
# Ô chuẩn bị (của chúng tôi): nạp `gluon_params_kit` trước MXNet để khôi phục các bí danh như
# `numpy.bool` mà MXNet 1.9.1 cần khi chạy với numpy 1.26 (Python 3.12), cùng vài mô-đun cho phần
# bài tập.

# %%
import os
import tempfile
import time

import gluon_params_kit as gpk
import mxnet as mx
import numpy as onp

# %% [markdown]
# ## Thiết bị tính toán (Computing devices)
#
# **Ô 1.** Trên máy có GPU NVIDIA, `nvidia-smi` liệt kê các card và bộ nhớ của chúng. Dòng bắt
# đầu bằng `!` là lệnh shell của Jupyter, không phải Python.

# %% [book:use-gpu/1]

# %% [markdown]
# **Ô 2.** `cpu()` là bộ nhớ chính và mọi lõi CPU; `gpu(i)` là một card cụ thể cùng bộ nhớ của nó.
# Tạo các đối tượng bối cảnh này không đòi hỏi thiết bị có thật.

# %% [book:use-gpu/2]

# %% [markdown]
# **Ô 3.** Số GPU mà MXNet thấy:

# %% [book:use-gpu/3]

# %% [markdown]
# **Ô 4.** Hai hàm tiện ích của sách: `try_gpu(i)` trả về `gpu(i)` nếu có, nếu không thì `cpu()`;
# `try_all_gpus()` trả về mọi GPU, hoặc `[cpu()]`.

# %% [book:use-gpu/4]

# %% [markdown]
# Ô của chúng tôi: `gluon_params_kit` có hai hàm cùng tên, chặt hơn một chút: một GPU chỉ được
# chọn khi nó chạy được các kernel của bản MXNet đã cài (GPU Hopper, như H100, thì không chạy
# được bản 1.9.1), và `gpk.gpu_problems()` nói lý do bằng một câu. Trên máy không có GPU, hai
# cặp hàm trả lời như nhau.

# %%
print("gpk.try_gpu():", gpk.try_gpu(), "| gpk.try_all_gpus():", gpk.try_all_gpus())
print("gpk.available_contexts():", gpk.available_contexts())
print("gpk.gpu_problems():", gpk.gpu_problems() or "không có")
if npx.num_gpus() == 0:
    assert gpk.try_gpu() == try_gpu() == try_gpu(3) == npx.cpu(0)
    assert gpk.try_all_gpus() == try_all_gpus() == [npx.cpu(0)]

# %% [markdown]
# ## `ndarray` và GPU (`ndarray` and GPUs)
#
# **Ô 5.** Mảng tạo ra mà không nêu `ctx` nằm ở `cpu(0)`.

# %% [book:use-gpu/5]

# %% [markdown]
# ### Lưu trữ trên GPU (Storage on the GPU)
#
# **Ô 6.** Tham số `ctx=` đặt mảng lên thiết bị ta chọn. Ở đây `try_gpu()` là `cpu(0)`, nên biểu
# diễn của mảng không kèm bối cảnh nào; trên GPU nó sẽ kết thúc bằng `ctx=gpu(0))`.

# %% [book:use-gpu/6]

# %% [markdown]
# **Ô 7.** Một mảng ngẫu nhiên trên `try_gpu(1)`: GPU thứ hai nếu có, ở đây là `cpu(0)`. Các số
# khác với sách (xem đầu sổ tay).

# %% [book:use-gpu/7]

# %% [markdown]
# ### Sao chép (Copying)
#
# **Ô 8.** `copyto` sao chép `x` sang bối cảnh của `y` để hai mảng có thể cộng với nhau.

# %% [book:use-gpu/8]

# %% [markdown]
# **Ô 9.** Kết quả nằm ở nơi các toán hạng nằm.

# %% [book:use-gpu/9]

# %% [markdown]
# Ô của chúng tôi: hai bối cảnh CPU *không* hoàn toàn thay được hai GPU. Sách cảnh báo rằng cộng
# hai mảng trên hai GPU khác nhau sẽ gây lỗi. Với `cpu(0)` và `cpu(1)` thì không: cả hai cùng là
# bộ nhớ chính, MXNet cộng mà không phàn nàn và đặt kết quả ở bối cảnh của toán hạng đầu. (Gluon
# thì kiểm tra bối cảnh của tham số ngay cả trên CPU; xem phần dùng `gluon_params_kit` bên dưới.)

# %%
a, b = np.ones(3, ctx=mx.cpu(0)), np.ones(3, ctx=mx.cpu(1))
total = a + b
print("cpu(0) + cpu(1):", total, "ở", total.ctx)
assert total.ctx == mx.cpu(0) and total.asnumpy().tolist() == [2.0, 2.0, 2.0]

# %% [markdown]
# **Ô 10.** `as_in_ctx` chỉ sao chép khi mảng chưa ở bối cảnh đích. Ở đây `x` đã ở `cpu(0)`
# (chính là `try_gpu(1)` trên máy này) nên không có gì được sao chép.

# %% [book:use-gpu/10]

# %% [markdown]
# **Ô 11 và 12.** Khi mảng đã ở đúng chỗ, `as_in_ctx` trả về chính nó; `copyto` thì luôn cấp phát
# vùng nhớ mới.

# %% [book:use-gpu/11]

# %% [book:use-gpu/12]

# %% [markdown]
# Ô của chúng tôi: vì thế, trên máy này `z` của ô 10 chính là `x` (trên máy của sách thì không).

# %%
print("z là x:", z is x, "| x.ctx:", x.ctx, "| try_gpu(1):", try_gpu(1))
assert (z is x) == (x.ctx == try_gpu(1))
assert y.copyto(y.ctx) is not y and y.as_in_ctx(y.ctx) is y

# %% [markdown]
# ## Gluon và GPU (Gluon and GPUs)
#
# **Ô 13.** `initialize(ctx=...)` đặt tham số lên thiết bị ta chọn. Trọng số chờ lượt truyền xuôi
# đầu tiên để biết hình dạng (khởi tạo trễ), rồi được tạo ở đó.

# %% [book:use-gpu/13]

# %% [markdown]
# **Ô 14 và 15.** Đầu vào và tham số cùng một thiết bị, nên kết quả được tính ở đó.

# %% [book:use-gpu/14]

# %% [book:use-gpu/15]

# %% [markdown]
# Ô của chúng tôi: kết quả ô 14 đúng là $xW^\top + b$ tính từ chính các tham số, và mọi tham số
# nằm ở `try_gpu()`.

# %%
W, bias = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
out = net(x)
print("W =", W, "b =", bias)
assert onp.allclose(out.asnumpy(), x.asnumpy() @ W.T + bias, atol=1e-6)
assert out.ctx == try_gpu() and all(p.list_ctx() == [try_gpu()] for p in net.collect_params().values())

# %% [markdown]
# ## Thêm từ `gluon_params_kit`: một mạng trên nhiều thiết bị
#
# Khởi tạo trên nhiều bối cảnh, mỗi tham số có một *bản sao* (replica) trên mỗi bối cảnh. Ở đây
# `cpu(0)` và `cpu(1)` đóng vai hai GPU: logic bản sao y hệt. Mạng của ô 13 chỉ có tham số ở
# `cpu(0)`; đưa cho nó dữ liệu ở `cpu(1)` thì Gluon báo lỗi, trên CPU cũng như trên GPU.
# `gpk.move` đặt mọi tham số của mạng (kể cả bộ nhớ gradient) lên các bối cảnh ta nêu, lấy giá trị
# từ bản sao đầu tiên, và báo đã làm gì (mỗi tham số: từ đâu, tới đâu, trạng thái).

# %%
pair = [mx.cpu(0), mx.cpu(1)]
try:
    net(x.as_in_ctx(mx.cpu(1)))
    refused = None
except RuntimeError as err:
    refused = err
print(f"{type(refused).__name__}:", str(refused).splitlines()[0])  # lời của Gluon, nguyên văn

moved = gpk.move(net, pair)
print({row["path"]: (row["from"], row["to"], row["state"]) for row in moved.to_records()})
outs = [net(x.as_in_ctx(c)) for c in pair]
assert refused is not None and net[0].weight.list_ctx() == pair
assert [o.ctx for o in outs] == pair and onp.array_equal(outs[0].asnumpy(), outs[1].asnumpy())

# %% [markdown]
# `data()` trả về bản sao trên bối cảnh *mặc định*, nên `net[0].weight.data()[:] += 1` chỉ sửa
# một bản sao; hai "GPU" từ đó tính ra hai kết quả khác nhau mà không có lời cảnh báo nào.
# `gpk.replica_report` gọi tên tham số lệch theo đường dẫn cấu trúc, `gpk.sync_replicas` chép một
# bản sao đè lên các bản còn lại, và `gpk.set_data_everywhere` là cách sửa an toàn: sửa mọi bản
# sao cùng lúc.

# %%
net[0].weight.data()[:] += 1
report = gpk.replica_report(net)
print("lệch nhau:", report.out_of_sync, "| chênh lệch lớn nhất:", report["0.weight"].max_abs_diff)
print("đồng bộ lại:", gpk.sync_replicas(net, source=mx.cpu(0)))
gpk.set_data_everywhere(net, "0.bias", lambda b: b + 0.5)
print("mọi bản sao khớp nhau:", gpk.replica_report(net).consistent)
print("bias trên từng bối cảnh:", [float(b.asnumpy()[0]) for b in net[0].bias.list_data()])
assert report.out_of_sync == ["0.weight"] and gpk.replica_report(net).consistent

# %% [markdown]
# ## Tóm tắt (Summary)
#
# * Mỗi mảng và mỗi tham số nằm trên một bối cảnh: `cpu()` (bộ nhớ chính) hoặc `gpu(i)`. Mặc định
#   là `cpu(0)`; `ctx=` khi tạo mảng hay khi `initialize` chọn nơi khác.
# * Phép toán cần mọi toán hạng trên cùng một thiết bị và đặt kết quả ở đó. Dữ liệu chỉ di chuyển
#   khi ta gọi `copyto` (luôn sao chép) hoặc `as_in_ctx` (chỉ sao chép khi cần).
# * Chuyển dữ liệu giữa thiết bị và đồng bộ với Python (`print`, `asnumpy`, `item`) tốn thời gian:
#   nên gộp thành ít lần chuyển lớn thay vì nhiều lần nhỏ, và giữ nhật ký (log) trên thiết bị.
# * Trên máy không có GPU, `try_gpu` của sách cho phép cùng một mã chạy trên `cpu(0)`; chỉ có
#   bối cảnh hiển thị và các số ngẫu nhiên là khác.

# %% [markdown]
# ## Bài tập (Exercises)
#
# Máy này không có GPU, nên mỗi lời giải chạy thật trên CPU, với `cpu(0)` và `cpu(1)` thay cho hai
# GPU khi cần hai thiết bị, và nói rõ trên GPU thật sẽ thấy gì. Thời gian được in ra, không được
# kiểm chứng (chúng đổi từ lần chạy này sang lần khác); các `assert` kiểm chứng kết quả tính toán.
#
# **1.** Nhân ma trận lớn trên `try_gpu()` so với trên CPU, rồi một tác vụ nhỏ. `npx.waitall()`
# chờ mọi phép tính xong trước khi bấm giờ, vì MXNet tính bất đồng bộ.

# %%
def seconds_per_call(fn, repeat):
    npx.waitall()
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    npx.waitall()
    return (time.perf_counter() - start) / repeat, result


host = onp.random.default_rng(0)
for n, repeat in ((1000, 5), (10, 1000)):
    a_host = host.standard_normal((n, n)).astype("float32")
    for name, ctx in (("try_gpu()", try_gpu()), ("cpu()", npx.cpu())):
        a = np.array(a_host, ctx=ctx)
        sec, prod = seconds_per_call(lambda: np.dot(a, a), repeat)
        print(f"{n:4d}x{n:<4d} trên {name:9s} = {str(ctx):6s}: {sec * 1e3:8.3f} ms/phép nhân, "
              f"{2 * n ** 3 / sec / 1e9:7.2f} GFLOP/s")
        assert prod.ctx == ctx and onp.allclose(prod.asnumpy(), a_host @ a_host, rtol=1e-4, atol=1e-3)

# %% [markdown]
# Ở đây `try_gpu()` *là* `cpu(0)`, nên hai dòng của mỗi cỡ chỉ khác nhau do dao động đo đạc. Trên
# một GPU, phép nhân $1000\times1000$ sẽ nhanh hơn CPU nhiều lần (hàng chục lần là thường gặp),
# vì GPU có hàng nghìn lõi cho đúng loại phép tính này. Với ma trận $10\times10$ thì ngược lại:
# thời gian bị chi phối bởi chi phí cố định của mỗi lần gọi (phía Python, hàng đợi của MXNet, khởi
# chạy kernel trên GPU), không phải bởi phép tính, nên GPU không nhanh hơn, thậm chí chậm hơn. Số
# GFLOP/s ở cỡ nhỏ cho thấy điều đó ngay trên CPU.
#
# **2.** Đọc và ghi tham số của một mô hình đặt trên thiết bị. `save_parameters` chép giá trị về
# bộ nhớ chính rồi ghi ra tệp; tệp không ghi bối cảnh nào. Khi nạp, `ctx=` quyết định tham số sẽ
# nằm ở đâu: một thiết bị, hay nhiều thiết bị cùng lúc (mỗi thiết bị một bản sao).

# %%
def make_net():
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
    return net


ctx = try_gpu()
model = make_net()
model.initialize(ctx=ctx)
X = np.random.uniform(size=(4, 5), ctx=ctx)
Y = model(X)
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.params")
    model.save_parameters(path)
    print("trong tệp:", [(k, a.shape) for k, a in gpk.read_header(path).items()])
    on_one = make_net()
    on_one.load_parameters(path, ctx=mx.cpu(1))  # "GPU 1"
    on_two = make_net()
    on_two.load_parameters(path, ctx=pair)  # một bản sao trên mỗi "GPU"
    safetensors_path = os.path.join(folder, "model.safetensors")
    gpk.save(model, safetensors_path)
    with_kit = make_net()
    load_report = gpk.load(with_kit, safetensors_path, ctx=mx.cpu(1))

print("load_parameters(ctx=cpu(1)):", {k: p.list_ctx() for k, p in gpk.named_parameters(on_one).items()})
print("load_parameters(ctx=pair):  ", {k: p.list_ctx() for k, p in gpk.named_parameters(on_two).items()})
print("mọi bản sao khớp nhau:", gpk.replica_report(on_two).consistent)
print("gpk.load:", load_report.loaded, "thiếu:", load_report.missing)
for loaded in (on_one, with_kit):  # cùng kết quả như mô hình gốc, tính trên cpu(1)
    assert onp.allclose(loaded(X.as_in_ctx(mx.cpu(1))).asnumpy(), Y.asnumpy(), atol=1e-6)

# %% [markdown]
# Tham số đặt trên GPU được ghi và nạp đúng như vậy: không cần chép về CPU trước khi lưu, và có thể
# nạp thẳng lên GPU bằng `load_parameters(path, ctx=mx.gpu(0))`. Tệp dùng được trên mọi máy, kể
# cả máy không có GPU. `gpk.save`/`gpk.load` làm việc tương tự với `.params`, `.safetensors`,
# `.npz`, và báo khoá nào đã nạp, khoá nào thiếu.
#
# **3.** 1000 phép nhân ma trận $100\times100$, mỗi lần ghi lại $\mathrm{tr}(MM^\top)$ (bình phương
# chuẩn Frobenius của $M$, tức tổng bình phương các phần tử). Cách thứ nhất đưa từng giá trị về
# Python ngay (`.item()`: mỗi bước phải chờ phép tính xong và chép kết quả về bộ nhớ chính). Cách
# thứ hai giữ nhật ký trên thiết bị và chỉ chép về một lần ở cuối.

# %%
ctx = try_gpu()
A = np.random.normal(size=(100, 100), ctx=ctx)
B = np.random.normal(size=(1000, 100, 100), ctx=ctx)

npx.waitall()
start = time.perf_counter()
log_each_step = []
for i in range(1000):
    M = np.dot(A, B[i])
    log_each_step.append((M * M).sum().item())
t_each_step = time.perf_counter() - start

npx.waitall()
start = time.perf_counter()
log_on_device = []
for i in range(1000):
    M = np.dot(A, B[i])
    log_on_device.append((M * M).sum())
t_loop_returns = time.perf_counter() - start
log_once = np.stack(log_on_device).asnumpy()
t_once = time.perf_counter() - start

print(f"đồng bộ mỗi bước:        {t_each_step:.3f} s")
print(f"nhật ký trên thiết bị:   {t_once:.3f} s (vòng lặp Python trả về sau {t_loop_returns:.3f} s)")
M = np.dot(A, B[0])
assert abs(float(np.trace(np.dot(M, M.T))) - log_once[0]) <= 1e-4 * log_once[0]
assert onp.allclose(log_each_step, log_once, rtol=1e-5)

# %% [markdown]
# Hai nhật ký giống nhau. Trên CPU chênh lệch thời gian nhỏ: đồng bộ chỉ làm mất phần chồng lấn
# giữa vòng lặp Python và các phép tính (dòng "vòng lặp Python trả về sau ..." cho thấy Python đã
# đi trước các phép tính bao xa khi không phải chờ). Trên GPU, mỗi `.item()` còn phải chờ hàng đợi
# của GPU cạn và chép dữ liệu qua PCIe, nên cách thứ nhất chậm hơn hẳn; đó là lỗi sách nhắc đến ở
# phần tóm tắt.
#
# **4.** Hai phép nhân ma trận trên hai thiết bị cùng lúc, so với lần lượt trên một thiết bị.
# MXNet đưa phép tính vào hàng đợi rồi trả về ngay, nên hai phép nhân trên hai bối cảnh khác nhau
# được phép chạy song song; `npx.waitall()` chờ cả hai.

# %%
n = 1000
a0 = np.random.uniform(size=(n, n), ctx=pair[0])
b0 = np.random.uniform(size=(n, n), ctx=pair[0])
b1 = b0.copyto(pair[1])
print("số lõi CPU của máy này:", os.cpu_count())
for attempt in range(3):
    npx.waitall()
    start = time.perf_counter()
    one_a, one_b = np.dot(a0, a0), np.dot(b0, b0)  # cả hai trên cpu(0)
    npx.waitall()
    t_sequence = time.perf_counter() - start
    start = time.perf_counter()
    two_a, two_b = np.dot(a0, a0), np.dot(b1, b1)  # cpu(0) và cpu(1) cùng lúc
    npx.waitall()
    t_parallel = time.perf_counter() - start
    print(f"lần {attempt + 1}: lần lượt trên cpu(0) {t_sequence * 1e3:6.1f} ms, "
          f"cpu(0) và cpu(1) cùng lúc {t_parallel * 1e3:6.1f} ms")
assert (two_a.ctx, two_b.ctx) == (mx.cpu(0), mx.cpu(1))
assert onp.allclose(two_b.asnumpy(), one_b.asnumpy(), rtol=1e-5)

# %% [markdown]
# Ở đây hai cách mất thời gian gần như nhau: `cpu(0)` và `cpu(1)` chỉ là hai cái tên cho cùng những
# lõi CPU ấy (số lõi in ở trên; thư viện BLAS vốn đã dùng hết chúng cho một phép nhân), nên chạy
# "song song" không có thêm phần cứng nào. Với hai GPU thật, mỗi GPU có lõi và bộ
# nhớ riêng: hai phép nhân cùng lúc mất xấp xỉ thời gian của một phép, tức tăng tốc gần như tuyến
# tính như sách gợi ý.
