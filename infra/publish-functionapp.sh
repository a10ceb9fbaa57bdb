#!/usr/bin/env bash
# Builds the deployable Azure Functions package:
#   artifacts/functionapp/      host.json, the function folders and the self-contained handler
#   artifacts/functionapp.zip   the same, ready for zip deployment
# Usage: infra/publish-functionapp.sh [output-folder]     (READY_TO_RUN=false skips ReadyToRun)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/artifacts}" && cd "${1:-$root/artifacts}" && pwd)
ready_to_run=${READY_TO_RUN:-true}
package="$out/functionapp"

rm -rf "$package" "$out/functionapp.zip"
# Self-contained for linux-x64: the Functions host runs it as it is, with no .NET installed.
# ReadyToRun compiles ahead of time, so a cold instance answers sooner: the project asks for one
# composite image of the app, its libraries and the framework (PublishReadyToRunComposite), so code
# that crosses assembly lines is compiled ahead of time too. That takes about two minutes on 2 cores.
dotnet publish "$root/src/SendWorkflows/SendWorkflows.csproj" -c Release -r linux-x64 --self-contained \
  -p:PublishReadyToRun="$ready_to_run" -o "$package" --nologo -v quiet

cp "$root/host.json" "$package/host.json"
for function in "$root"/src/SendWorkflows/Functions/*/; do
  name=$(basename "$function")
  mkdir -p "$package/$name"
  cp "$function/function.json" "$package/$name/function.json"
done
chmod +x "$package/SendWorkflows"

# zip keeps the executable bit, which the host needs to start the handler.
(cd "$package" && zip -qr -X "$out/functionapp.zip" .)
echo "$out/functionapp.zip"
