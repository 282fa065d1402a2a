#!/usr/bin/env bash
# The browser the console's test drives: Debian's chromium, installed with apt when it is missing (the test uses
# puppeteer-core on this binary; nothing downloads a browser of its own). Run by scripts/test.sh; safe to run again.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "setup-browser: chromium is missing; install Debian's chromium (apt-get install chromium) as root" >&2
  exit 1
fi
