#!/bin/sh
# Regenerates the golden files from the sources in src/ with the tools named in ../README.md.
# Run from internal/loader/testdata/golden: sh src/regenerate.sh
# The tests only read the committed results; nothing in CI runs this.
set -eu
# A profile of its own, so that a running LibreOffice or the user's settings do not interfere.
LO="soffice -env:UserInstallation=file:///tmp/ragmigrate-golden-lo --headless"

$LO --convert-to 'docx:MS Word 2007 XML' --outdir . src/report.fodt
$LO --convert-to pdf --outdir . report.docx
pandoc -f docx -t gfm report.docx -o report.md
pandoc -f docx -t plain report.docx -o report.txt
$LO --convert-to 'xlsx:Calc MS Excel 2007 XML' --outdir . src/budget.fods
$LO --convert-to 'pptx:Impress MS PowerPoint 2007 XML' --outdir . src/deck.fodp
$LO --convert-to pdf --outdir . src/cjk.fodt
$LO --convert-to pdf --outdir . src/mixed-fonts.fodt

tmp=$(mktemp -d)
gs -q -dSAFER -dBATCH -dNOPAUSE -sDEVICE=pnggray -r100 -sOutputFile="$tmp/page-%d.png" report.pdf
img2pdf "$tmp/page-1.png" "$tmp/page-2.png" -o scanned.pdf
rm -r "$tmp"

qpdf --encrypt harbour keeper 256 -- report.pdf encrypted.pdf
qpdf --encrypt harbour keeper 128 --use-aes=y -- report.pdf encrypted-aes128.pdf
qpdf --allow-weak-crypto --encrypt "" keeper 128 --use-aes=n -- report.pdf owner-only.pdf
qpdf --encrypt "" keeper 128 --use-aes=y -- report.pdf owner-only-aes128.pdf
qpdf --encrypt "" keeper 256 -- report.pdf owner-only-aes256.pdf
qpdf --encrypt "" keeper 256 --force-R5 -- report.pdf owner-only-aes256-r5.pdf

head -c $(( $(wc -c < report.pdf) * 60 / 100 )) report.pdf > truncated.pdf

python3 src/text_files.py
