#!/bin/sh
# greet NAME: prints the banner and a greeting.
cat /usr/local/share/banner.txt 2>/dev/null
echo "hello, ${1:-world} (from ${APP_NAME:-greeter})"
