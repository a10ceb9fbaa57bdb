#!/usr/bin/env bash
# Makes DejaVuSans-Latin.ttf and DejaVuSans-Bold-Latin.ttf from the whole faces beside this script:
# the same glyphs, hinting and metrics, for the Latin scripts (Basic Latin to Latin Extended-B,
# Latin Extended Additional for Vietnamese), spacing modifiers, combining accents, general
# punctuation and the euro sign only, renamed "DejaVu Sans Latin" so that they are never mistaken
# for the whole face. Certificates use them when every character fits (CertificateFonts).
# Needs fontTools (Debian: apt-get install fonttools python3-fonttools). Run it again only when the
# whole faces or the ranges change, and commit the results.
set -euo pipefail
cd "$(dirname "$0")"
ranges="U+0020-007E,U+00A0-024F,U+02B0-036F,U+1E00-1EFF,U+2000-206F,U+20AC"
for face in DejaVuSans DejaVuSans-Bold; do
  pyftsubset "$face.ttf" --unicodes="$ranges" --layout-features='*' --name-IDs='*' --name-languages='*' \
    --name-legacy --notdef-outline --recommended-glyphs --no-prune-unicode-ranges \
    --output-file="$face-Latin.ttf"
done
/usr/bin/env python3 - <<'PY'
from fontTools.ttLib import TTFont

for face in ("DejaVuSans", "DejaVuSans-Bold"):
    path = f"{face}-Latin.ttf"
    font = TTFont(path, recalcTimestamp=False)
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 16):
            record.string = record.toUnicode().replace("DejaVu Sans", "DejaVu Sans Latin")
        elif record.nameID == 6:
            record.string = record.toUnicode().replace("DejaVuSans", "DejaVuSansLatin")
    font.save(path)
PY
