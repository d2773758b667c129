#!/usr/bin/env bash
# Seeds the corpus of the lean targets from the test fixtures (run from anywhere; rewrites
# fuzz/corpus/<target>/seed-* only). Each seed is laid out as its entry point in
# src/fuzzing.rs reads it: a choice byte, then the input, NUL-separated parts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
fx=$repo/tests/fixtures
certs=$fx/clients/certs
corpus=$here/corpus

seed() { # target name: stdin becomes corpus/target/seed-name
    mkdir -p "$corpus/$1"
    cat >"$corpus/$1/seed-$2"
}
byte() { printf "\\$(printf '%03o' "$1")"; }
der() { grep -v -- '-----' "$1" | base64 -d; }

# http_parse: status (2 bytes), Location NUL Server NUL WWW-Authenticate NUL body.
{ byte 0; byte 200; printf '\0nginx/1.24.0\0\0T.thumbprint\n'; } | seed http_parse ok
{ byte 1; byte 45; printf 'https://example.test/.well-known/acme-challenge/T\0nginx\0\0<html><head><title>301 Moved Permanently</title></head></html>'; } | seed http_parse redirect
{ byte 1; byte 46; printf 'http://0x7f.0x1/x\0\0\0'; } | seed http_parse redirect-hex
{ byte 1; byte 51; printf '//[fe80::1%%25eth0]:8080/\0\0\0'; } | seed http_parse redirect-zone
{ byte 1; byte 147; printf 'http://example.test.well-known/acme-challenge/T\0\0\0'; } | seed http_parse redirect-slash
{ byte 1; byte 147; printf 'http://printer.local/\0\0\0'; } | seed http_parse redirect-local
{ byte 1; byte 147; printf 'http://169.254.169.254/latest\0\0\0'; } | seed http_parse redirect-metadata
{ byte 1; byte 147; printf 'http://example.test/T\0\0\0'; } | seed http_parse redirect-loop
{ byte 1; byte 147; printf 'mailto:x@example.test\0\0\0'; } | seed http_parse redirect-scheme
{ byte 1; byte 147; printf 'https:///x\0\0\0'; } | seed http_parse redirect-empty
{ byte 1; byte 144; printf '\0RomPager/4.07 UPnP/1.0\0Basic realm="TP-LINK Wireless Router"\0<title>FRITZ!Box</title>'; } | seed http_parse router
{ byte 1; byte 147; printf '\0cloudflare\0\0<!DOCTYPE html><title>Attention Required! | Cloudflare</title> cf-ray'; } | seed http_parse waf
{ byte 1; byte 148; printf '\0Apache\0\0\xef\xbb\xbfT.thumbprint \r\n'; } | seed http_parse bom

# ruleset_parse: choice bit 0 clear = nft JSON; set = iptables-save (bit 1 IPv6, bit 2 legacy).
for f in "$fx"/fw-*-host.json "$fx"/docker-*-host.json; do
    name=$(basename "$f" -host.json)
    nft=$(jq -c '.host.firewall.nft.known // empty' "$f")
    if [ -n "$nft" ]; then { byte 0; printf '%s' "$nft"; } | seed ruleset_parse "$name-nft"; fi
    i=0
    while IFS= read -r encoded; do
        dump=$(jq -r . <<<"$encoded")
        family=$(jq -r ".host.firewall.iptables[$i].family // \"ipv4\"" "$f")
        backend=$(jq -r ".host.firewall.iptables[$i].backend // \"nft\"" "$f")
        b=1; [ "$family" = ipv6 ] && b=$((b | 2)); [ "$backend" = legacy ] && b=$((b | 4))
        if [ -n "$dump" ]; then { byte $b; printf '%s\n' "$dump"; } | seed ruleset_parse "$name-ipt$i"; fi
        i=$((i + 1))
    done < <(jq -c '.host.firewall.iptables[]? | .dump.known // ""' "$f")
done

# client_config: choice byte (src/fuzzing.rs: 0 certbot, 1 acme.sh, 2 lego JSON, 3 lego
# commands, 4 Caddyfile, 5 Traefik static, 6 acme.json, 7 by content), file NUL certificate.
{ byte 0; sed 's#^cert = .*#cert = /c/cert.pem#' "$fx/clients/web.example.test.conf"; printf '\0'; cat "$certs/web.pem"; } | seed client_config certbot
{ byte 1; printf "Le_Domain='example.test'\nLe_Alt='www.example.test'\nLe_Webroot='/var/www/old'\nLe_PreHook='__ACME_BASE64__START_c3lzdGVtY3RsIHN0b3Agbmdpbng=__ACME_BASE64__END_'\nLe_HTTPPort='8081'\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\n\0"; cat "$certs/wrong.pem"; } | seed client_config acmesh
{ byte 1; printf "Le_Domain='example.test'\nLe_Alt='*.example.test'\nLe_Webroot='dns_cf,dns_cf'\nbroken line\n\0"; der "$certs/dns.pem"; } | seed client_config acmesh-dns
{ byte 2; printf '{\n\t"domain": "example.test",\n\t"certUrl": "https://acme-v02.api.letsencrypt.org/acme/cert/04cd"\n}\0'; cat "$certs/solo.pem"; } | seed client_config lego-json
{ byte 3; printf 'ExecStart=/usr/bin/lego --accept-tos --email ops@example.test --path /c/lego --domains example.test --http --http.port :8080 renew --days 45\n0 3 * * * lego --path /c/lego -d example.test --http.webroot /var/www run\n\0'; cat "$certs/solo.pem"; } | seed client_config lego-commands
{ byte 4; printf '{\n\temail ops@example.test\n}\n\n(common) {\n\tencode gzip\n}\n\nexample.test, www.example.test {\n\troot * /var/www/html\n\tfile_server\n}\n\nhttps://dns.example.test:443 {\n\ttls {\n\t\tdns cloudflare {env.CF_API_TOKEN}\n\t}\n}\n\nlocalhost:8080 {\n\trespond ok\n}\n\0'; cat "$certs/web.pem"; } | seed client_config caddy
pem64=$(base64 -w0 "$certs/web.pem")
acme_json="{\"le\": {\"Account\": {\"Email\": \"ops@example.test\"}, \"Certificates\": [{\"domain\": {\"main\": \"example.test\", \"sans\": [\"www.example.test\"]}, \"certificate\": \"$pem64\", \"key\": \"\", \"Store\": \"default\"}]}}"
{ byte 5; printf 'entryPoints:\n  web:\n    address: ":80"\n\ncertificatesResolvers:\n  le:\n    acme:\n      email: ops@example.test\n      storage: /c/acme.json\n      httpChallenge:\n        entryPoint: web\n  cf:\n    acme:\n      storage: acme-dns.json\n      dnsChallenge:\n        provider: cloudflare\n\0'; printf '%s' "$acme_json"; } | seed client_config traefik-yaml
{ byte 5; printf '[entryPoints.web]\n  address = ":80"\n\n[certificatesResolvers.myresolver.acme]\n  email = "ops@example.test"\n  storage = "acme.json"\n  [certificatesResolvers.myresolver.acme.tlsChallenge]\n\0'; printf '%s' "$acme_json"; } | seed client_config traefik-toml
{ byte 6; printf '%s' "$acme_json"; } | seed client_config acme-json
{ byte 7; cat "$fx/clients/web.example.test.conf"; } | seed client_config by-content

# nginx_config and apache_config.
cp "$repo/src/webconf/testdata/debian-nginx-T.txt" "$corpus/nginx_config/seed-debian" 2>/dev/null \
    || { mkdir -p "$corpus/nginx_config"; cp "$repo/src/webconf/testdata/debian-nginx-T.txt" "$corpus/nginx_config/seed-debian"; }
cp "$repo/src/webconf/testdata/lua-nginx-T.txt" "$corpus/nginx_config/seed-lua"
printf '# configuration file /etc/nginx/nginx.conf:\nhttp {\n  server {\n    listen 80 default_server;\n    listen [::]:80;\n    server_name example.test *.example.test ~^(?<sub>.+)\\.example\\.com$;\n    location ^~ /.well-known/acme-challenge/ { root /var/www/acme; try_files $uri =404; }\n    location ~* \\.(php)$ { deny all; }\n    location / { return 301 https://$host$request_uri; }\n    include /etc/nginx/missing.conf;\n  }\n}\n' | seed nginx_config small
{ printf 'VirtualHost configuration:\n*:80                   is a NameVirtualHost\n         default server a (/f:1)\n         port 80 namevhost example.test (/f:1)\n                 alias *.example.test\n         port 80 namevhost shop.example.com (/f:9)\n[::]:80 example.test (/f:1)\nMain DocumentRoot: "/var/www/html"\n\0'
  printf '<VirtualHost *:80>\nServerName example.test\nDocumentRoot /srv\nAlias /.well-known/acme-challenge/ /var/lib/acme/\n<Location /.well-known>\nRequire all denied\n</Location>\nRewriteEngine on\nRewriteCond %%{SERVER_NAME} =example.test [OR]\nRewriteCond %%{REQUEST_URI} !^/\\.well-known [NC]\nRewriteRule ^ https://%%{SERVER_NAME}%%{REQUEST_URI} [END,NE,R=permanent]\nProxyPass /.well-known !\nProxyPass / http://127.0.0.1:8080/\nRedirect permanent / https://example.test/\n</VirtualHost>\n<VirtualHost *:80>\nServerName shop.example.com\n</VirtualHost>\n'; } | seed apache_config vhost

# der_walk: PEM, DER, and Traefik's base64 of a PEM chain.
for c in web wrong solo dns; do
    { byte 0; cat "$certs/$c.pem"; } | seed der_walk "$c-pem"
    { byte 0; der "$certs/$c.pem"; } | seed der_walk "$c-der"
done
{ byte 1; cat "$certs/web.pem" "$certs/dns.pem" | base64 -w0; } | seed der_walk chain-base64
# ... and TLS-ALPN-01's presented leaves (tests/fixtures/tlsalpn/make.sh).
for c in challenge challenge-rsa site snakeoil noncritical malformed extrasan ip; do
    { byte 0; cat "$fx/tlsalpn/$c.der"; } | seed der_walk "tlsalpn-$c"
done

# serve_request: request heads (token: fuzzing::SERVE_TOKEN).
head() { printf '%s\r\n' "$@"; printf '\r\n'; }
head 'GET /v1/observe?domain=example.test&path=/.well-known/acme-challenge/abc_-1&timeout_ms=2500 HTTP/1.1' 'Host: vantage.example.test' 'Authorization: Bearer fuzz-token' 'X-Forwarded-For: 203.0.113.9, 192.0.2.2' | seed serve_request ok
head 'GET /v1/observe?domain=0x7f.0x1 HTTP/1.1' 'Authorization: Bearer fuzz-token' | seed serve_request hex
head 'GET /v1/observe?domain=*.example.test&port=22 HTTP/1.1' 'Authorization: Bearer fuzz-token' 'X-Forwarded-For: [2001:db8::1]:443,junk' | seed serve_request wildcard
head 'POST /v1/observe?domain=xn--bcher-kva.example HTTP/1.1' 'Authorization: Bearer fuzz-token' 'Content-Length: 5' 'Transfer-Encoding: chunked' | seed serve_request post
head 'GET /metrics HTTP/1.1' 'Authorization: Bearer wrong' | seed serve_request wrong-token

# ca_words: the CA's words as users paste them (--ca-error) and clients log them; the
# formats of src/diagnose/ca/words.rs, each from the public report its test cites.
printf '2001:db8::10: Fetching http://example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)' | seed ca_words boulder
printf 'Certbot failed to authenticate some domains (authenticator: nginx). The Certificate Authority reported these problems:\n  Domain: a.example.test\n  Type:   connection\n  Detail: During secondary validation: 203.0.113.49: Fetching http://a.example.test/.well-known/acme-challenge/I: Timeout during connect (likely firewall problem)\n\n  Domain: b.example.test\n  Type:   serverInternal\n  Detail: During secondary validation: Secondary validation RPC failed\n' | seed ca_words certbot
printf 'acme: error: 429 :: POST :: https://acme-v02.api.letsencrypt.org/acme/new-order :: urn:ietf:params:acme:error:rateLimited :: too many certificates (2) already issued for this exact set of identifiers in the last 3h0m0s, retry after 2025-11-27 05:06:44 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers, url: ' | seed ca_words lego
printf '%s' 'time="2020-11-25T22:34:45Z" level=error msg="Unable to obtain ACME certificate for domains \"f.example.test\": error: one or more domains had a problem:\n[f.example.test] acme: error: 400 :: urn:ietf:params:acme:error:connection :: Timeout during connect (likely firewall problem), url: \n" providerName=default.acme' | seed ca_words traefik
printf '%s' '{"level":"error","logger":"http.acme_client","msg":"challenge failed","identifier":"a.example.test","challenge_type":"http-01","problem":{"type":"urn:ietf:params:acme:error:unauthorized","title":"","detail":"192.0.2.10: Invalid response from http://a.example.test/.well-known/acme-challenge/T: 404","instance":"","subproblems":[]}}' | seed ca_words caddy
printf 'g.example.test:Verify error:DNS problem: looking up TXT for _acme-challenge.g.example.test: DNSSEC: Bogus' | seed ca_words acmesh
printf 'Error accepting authorization: acme: authorization error for w.example.test: 403 urn:ietf:params:acme:error:caa: While processing CAA for w.example.test: CAA record for example.test prevents issuance' | seed ca_words cert-manager
