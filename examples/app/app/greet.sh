#!/bin/sh
# greet prints a greeting per line of the greetings file.
set -e
greetings=/usr/local/share/greeter/greetings
[ -f "$greetings" ] || greetings=/out/share/greeter/greetings
if [ "$1" = "--check" ]; then
	test -s "$greetings"
	echo "greet @VERSION@: ok"
	exit 0
fi
while read -r g; do
	echo "$g, ${1:-world} (greet @VERSION@)"
done < "$greetings"
