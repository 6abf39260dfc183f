#!/usr/bin/env bash
# Installs iommuctl from this repository as a .NET global tool (~/.dotnet/tools/iommuctl), or
# updates the one installed before.
#   --tool-path DIR   install into DIR instead of the global tools folder
#   -- ARGS...        more arguments for `dotnet pack` (the specs pass: -- --no-build -c Debug)
set -euo pipefail
cd "$(dirname "$0")"

where=(--global)
pack=(-c Release)
while [ $# -gt 0 ]; do
  case "$1" in
    --tool-path) where=(--tool-path "$2"); shift 2 ;;
    --) shift; pack=("$@"); break ;;
    *) echo "install-iommuctl.sh: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done

feed=$(mktemp -d)
trap 'rm -rf "$feed"' EXIT
version="0.1.0-local.$(date +%Y%m%d%H%M%S)"
dotnet pack src/Actors.Cli --nologo -v quiet -o "$feed" -p:Version="$version" "${pack[@]}"
dotnet tool update "${where[@]}" --add-source "$feed" --version "$version" IommuActors.Iommuctl
if [ "${where[0]}" = "--global" ] && ! command -v iommuctl >/dev/null 2>&1; then
  echo "iommuctl is in $HOME/.dotnet/tools, which is not on your PATH: add it (export PATH=\"\$PATH:\$HOME/.dotnet/tools\")."
fi
