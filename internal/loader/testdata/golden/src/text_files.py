"""Writes the golden text files: quoted-newlines.csv, nul-bytes.txt, shift_jis.html.

Run from internal/loader/testdata/golden: python3 src/text_files.py
"""
import csv

# The csv module's default dialect (excel): CRLF row ends, quotes around fields holding a
# comma, a quote or a line break, and doubled quotes inside them.
rows = [
    ["id", "vessel", "remark"],
    ["1", "Marigold", "Runs the dawn crossing, weather permitting"],
    ["2", "Sea Lantern", "Carries six cars,\nor four vans and a trailer"],
    ["3", "Kittiwake", 'Reserve vessel; "winter only"'],
]
with open("quoted-newlines.csv", "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows(rows)

with open("nul-bytes.txt", "wb") as f:
    f.write(b"Tide table for Port Elspeth\x00\n\nHigh water at 06:42\x00 and 19:05.\n\n"
            b"Low\x00 water at 12:51;\x00\x00 neap tides this week.\n")

html = """<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="Shift_JIS">
<title>灯台見学のご案内｜港町観光協会</title>
</head>
<body>
<nav><ul><li><a href="/">ホーム</a></li><li><a href="/access">交通案内</a></li><li><a href="/contact">お問い合わせ窓口</a></li></ul></nav>
<h1>港の灯台について</h1>
<p>この灯台は明治時代に建てられ、今も毎晩、港に入る船を見守っています。</p>
<p>見学は土曜日と日曜日の午前十時から午後四時までです。</p>
<h2>見学の注意</h2>
<ol>
<li>① 階段は百二十段あります。</li>
<li>② 雨の日は展望台を閉鎖します。</li>
</ol>
<table>
<tr><th>料金区分</th><th>金額</th></tr>
<tr><td>大人</td><td>三百円</td></tr>
<tr><td>子ども</td><td>百円</td></tr>
</table>
<footer>著作権表示 港町観光協会</footer>
</body>
</html>
"""
# Pages labelled Shift_JIS are in practice Windows-31J (cp932), which adds characters such as
# ① ② (NEC row 13) that strict Shift_JIS lacks; browsers and WHATWG decode the label that way.
with open("shift_jis.html", "wb") as f:
    f.write(html.encode("cp932"))
