# Sourced by the infra scripts. `apt_install PACKAGE...` installs Debian
# packages quietly, as root or through sudo (which keeps the
# non-interactive front end).
apt_install() {
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
