"""The replay's words in Vietnamese: ``gluon-params chapter --lang vi``.

Section titles are the Vietnamese edition's own headings, character for character (the first
heading of each book file that is not inside an HTML comment; ``tests/test_book.py`` compares
them with the files where they are at hand). Cell titles and the closing line are the kit's own
words, translated.
"""
from __future__ import annotations

from typing import Dict

__all__ = ["CELL_TITLES", "CLOSING_WORDS", "LANGUAGES", "SECTION_TITLES"]

#: The languages a replay prints its headings in.
LANGUAGES = ("en", "vi")

#: Section key -> its title in the Vietnamese book file.
SECTION_TITLES: Dict[str, str] = {
    "model-construction": "Tầng và Khối",
    "chapter": "Quản lý Tham số",
    "deferred-init": "Khởi tạo trễ",
    "custom-layer": "Các tầng Tuỳ chỉnh",
    "read-write": "Đọc/Ghi tệp",
    "use-gpu": "GPU",
}

#: Section key -> cell key -> the cell's title (the kit's ``Cell.title``, in Vietnamese).
CELL_TITLES: Dict[str, Dict[str, str]] = {
    "chapter": {
        "1": "Dựng MLP và chạy nó",
        "2": "Tham số của từng tầng",
        "3": "Một Parameter và dữ liệu của nó",
        "4": "Một Parameter theo tên",
        "5": "Bộ nhớ gradient",
        "6": "Mọi tham số cùng lúc",
        "7": "Tra cứu trong các tham số đã gom",
        "8": "Chọn bằng biểu thức chính quy",
        "9": "Khối lồng nhau: block1, block2, rgnet",
        "10": "Cấu trúc của mạng lồng nhau",
        "11": "Đi vào bên trong các khối lồng nhau",
        "12": "Khởi tạo có sẵn: Normal(sigma=0.01)",
        "13": "Khởi tạo có sẵn: Constant(1)",
        "14": "Mỗi khối một bộ khởi tạo",
        "15": "Khởi tạo tự viết: MyInit",
        "16": "Đặt giá trị tham số trực tiếp",
        "17": "Tham số dùng chung",
    },
    "model-construction": {
        "1": "Một MLP dạng Sequential",
        "2": "MLP viết thành một Block riêng",
        "3": "Lượt truyền xuôi của nó",
        "4": "Một Sequential tự viết",
        "5": "Dùng MySequential",
        "6": "Tầng ẩn cố định và luồng điều khiển",
        "7": "Dùng FixedHiddenMLP",
        "8": "Khối lồng trong khối",
    },
    "deferred-init": {
        "1": "Mạng chưa biết kích thước đầu vào",
        "2": "Tham số của nó trước khi khởi tạo",
        "3": "initialize() hoãn việc khởi tạo",
        "4": "Lượt truyền xuôi đầu tiên suy ra hình dạng",
        "5": "Bộ khởi tạo báo khi nó chạy",
        "6": "Khởi tạo xảy ra ở lượt truyền xuôi đầu tiên",
        "7": "Lượt thứ hai không khởi tạo lại",
        "8": "Khởi tạo lại cưỡng chế",
        "9": "Biết trước kích thước đầu vào: không hoãn",
    },
    "custom-layer": {
        "1": "Tầng không có tham số",
        "2": "Nó trừ đi giá trị trung bình",
        "3": "Trong một mô hình lớn hơn",
        "4": "Trung bình của đầu ra bằng 0",
        "5": "Một ParameterDict tự tạo",
        "6": "Một tầng dense tự viết",
        "7": "Tham số của nó",
        "8": "Lượt truyền xuôi của nó",
        "9": "Tầng tự viết trong một mô hình",
    },
    "read-write": {
        "1": "Lưu một mảng",
        "2": "Nạp lại nó",
        "3": "Một danh sách mảng",
        "4": "Một từ điển mảng",
        "5": "Một MLP",
        "6": "Lưu tham số của nó",
        "7": "Nạp chúng vào một bản sao",
        "8": "Bản sao tính ra cùng kết quả",
    },
    "use-gpu": {
        "1": "Các GPU của máy này",
        "2": "Bối cảnh",
        "3": "Có bao nhiêu GPU",
        "4": "try_gpu và try_all_gpus",
        "5": "Bối cảnh của một mảng",
        "6": "Một mảng trên try_gpu()",
        "7": "Một mảng ngẫu nhiên trên try_gpu(1)",
        "8": "copyto",
        "9": "Các toán hạng trên cùng một bối cảnh",
        "10": "as_in_ctx",
        "11": "as_in_ctx trả về chính mảng đó",
        "12": "copyto luôn sao chép",
        "13": "Một mạng trên try_gpu()",
        "14": "Lượt truyền xuôi của nó",
        "15": "Trọng số của nó nằm ở đâu",
    },
}

#: The closing line's words (``ReplayResult.closing_line(lang='vi')``); the English ones are in
#: :mod:`.replay` (``_CLOSING_EN``), beside the replay's other English text.
CLOSING_WORDS: Dict[str, str] = {
    "cell": "ô",
    "reproduced": "chạy lại {n} ô",
    "checks": "{n} phép kiểm chứng đạt",
    "failed": "{n} không đạt",
    "not_replayed": "không chạy lại được mã của sách: {error}",
    "identical": "{same}/{n} ô giống hệt mã của sách",
    "different": "khác",
    "no_book": (" theo bản chép của bộ công cụ (không có các tệp của sách ở đây, nên mã nguồn của các ô "
                "chưa được so với chúng)"),
}
