#!/bin/sh
# The broker's first start with no manual steps (docker-compose.yml's `mosquitto-init`, run in
# the firegrid image): a server certificate signed by a CA of the stack's own, and the gateway's
# and the simulator's accounts. What is already there is kept, so later starts change nothing:
# a certificate from your own PKI, or accounts written since from the registry, stay as they are.
#
#   init.sh [CONFIG_DIR]        (default /mosquitto/config)
#
# FIREGRID_MQTT_URL            the gateway's mqtt://user:password@host:port (required)
# FIREGRID_SIMULATOR_MQTT_URL  the simulator's, for its demo account (optional)
# MQTT_TLS_HOSTNAME            the name (or IP address) devices reach the broker by;
#                              default localhost. 127.0.0.1 and `mosquitto` are always in.
set -eu

conf=${1:-/mosquitto/config}
certs=$conf/certs
host=${MQTT_TLS_HOSTNAME:-localhost}
: "${FIREGRID_MQTT_URL:?is needed: the gateway logs in with its user and password}"
say() { echo "mosquitto-init: $*"; }

subject_alt_names() {
    case $host in
        *:*) kind=IP ;;             # IPv6
        *[!0-9.]*) kind=DNS ;;
        *) kind=IP ;;               # IPv4
    esac
    echo "subjectAltName=$kind:$host,DNS:localhost,DNS:mosquitto,IP:127.0.0.1"
}

make_certs() {
    mkdir -p "$certs"
    chmod 755 "$certs"  # ca.crt is for everyone; the keys in it are 0600
    work=$(mktemp -d "$certs/.new.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=firegrid MQTT CA" -keyout "$work/ca.key" -out "$work/ca.crt"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$host" -keyout "$work/server.key" -out "$work/server.csr"
    {
        subject_alt_names
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=serverAuth"
    } >"$work/server.ext"
    # 825 days: the longest Apple's TLS clients accept from a private CA.
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
        -CAcreateserial -days 825 -extfile "$work/server.ext" -out "$work/server.crt"
    chmod 644 "$work/ca.crt" "$work/server.crt"  # public; the keys stay 0600
    # server.crt last: it is what says the folder is done, should a run be cut short.
    mv "$work/ca.key" "$work/ca.srl" "$work/ca.crt" "$work/server.key" "$certs/"
    mv "$work/server.crt" "$certs/"
    say "made a CA (certs/ca.crt: give it to devices and phones) and a certificate for $host"
}

umask 077
if [ -e "$certs/server.crt" ]; then
    say "keeping the certificate in $certs"
else
    make_certs
fi
# broker-config writes passwd after acl: a passwd means both are there.
if [ -e "$conf/passwd" ]; then
    say "keeping passwd and acl (firegrid broker-config rewrites them from the registry)"
else
    firegrid broker-config --gateway-only --out "$conf"
fi
