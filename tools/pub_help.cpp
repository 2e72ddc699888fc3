// robustmq-pub --help: the options, what it waits for, the exit codes.
#include "pub_args.hpp"

namespace robustmq::pub {

const char* help_text() {
  return R"(robustmq-pub: publish MQTT messages that survive crashes and broker outages.

Usage: robustmq-pub -i CLIENT_ID -t TOPIC (-m MESSAGE | -l | -f FILE | -s) [options]
       robustmq-pub -i CLIENT_ID --drain [options]

Messages:
  -m, --message TEXT     publish TEXT as one message
  -l, --stdin-line       publish every line read from stdin as one message (without the newline;
                         an empty line is a zero-length message), as soon as it is read
  -f, --file FILE        publish the contents of FILE as one message
  -s, --stdin-file       publish all of stdin as one message
  -n, --null-message     publish a zero-length message
      --drain            publish nothing new: deliver what an earlier run left in the cache
      --repeat N         publish the -m/-f/-n/-s message N times (default 1)
      --repeat-delay S   ... waiting S seconds (a decimal number) between them

Connection and delivery:
  -h, --host HOST        broker host (default localhost)
  -p, --port PORT        broker port (default 1883)
  -L, --url URI          a broker URI instead of -h/-p: tcp://, ssl://, ws://, wss://HOST[:PORT];
                         repeat it for several brokers, tried in turn
      --unix PATH        not supported: Paho MQTT C 1.3.12 has no Unix sockets (use loopback TCP)
      --proxy URL        HTTP CONNECT proxy for every broker: http://[USER:PASS@]HOST[:PORT]
                         (default: $http_proxy / $https_proxy, except $no_proxy hosts)
      --cafile FILE      CA certificates for ssl:// and wss:// (default: the system's); with
                         -h, this and the options below mean TLS (port 8883 unless -p)
      --insecure         do not check that the broker's certificate names its host (the
                         CA's signature is still checked)
      --tls-alpn PROTO   ALPN protocols offered, comma-separated (e.g. x-amzn-mqtt-ca)
      --ciphers LIST     OpenSSL cipher list (TLS 1.2 and below)
      --tls-version VER  the lowest TLS version offered: tlsv1.3, tlsv1.2 or tlsv1.1
      --capath DIR       a directory of hashed CA certificates
      --cert FILE, --key FILE   client certificate and key (PEM), for mutual TLS
  -V, --protocol-version mqttv311|mqttv5   MQTT version (default mqttv311; also 311, 5)
  -k, --keepalive SECONDS   MQTT keepalive (default 30)
  -c, --disable-clean-session   resume the broker's session on reconnects
  -x, --session-expiry SECONDS  MQTT 5: how long the broker keeps the session after the
                         connection ends; -1, 4294967295 or ∞: never (default with -c; else 0)
  -D, --property publish user-property NAME VALUE | publish content-type TYPE
                         MQTT 5 properties of every message (needs -V mqttv5; repeatable)
      --will-topic TOPIC, --will-payload TEXT, --will-qos 0|1|2, --will-retain
                         the last will the broker publishes if the connection dies
  -t, --topic TOPIC      topic to publish to
  -q, --qos 0|1|2        QoS (default 1)
  -r, --retain           set the retain flag
  -i, --id CLIENT_ID     MQTT client id; required: together with the cache directory it names
                         what a later run picks up after a crash
  -u, --username USER
  -P, --pw PASSWORD      prefer the environment variable ROBUSTMQ_PASSWORD: argv is visible to
                         every user of the machine (ps); the variable is removed before the
                         worker starts
      --pw-file FILE     the password is FILE's content (less one trailing newline), read
                         again before each connection attempt (a rotated token)
      --cache-dir DIR    where undelivered messages wait (default
                         $XDG_CACHE_HOME/robustmq-pub/CLIENT_ID, else ~/.cache/robustmq-pub/...)
      --cache-type sqlite|file   the disk cache (default sqlite)
      --timeout SECONDS  how long to wait for delivery once the input is queued (default 10)
      --drain-rate N     send what earlier runs left in the cache at most N messages per
                         second (default 0: as fast as the broker takes them); new messages
                         wait behind that backlog
      --drain-rate-bytes N   ... and at most N bytes (topic + payload) per second
      --max-inflight N   messages sent before the first is acknowledged (default 1)
      --ttl SECONDS      drop messages older than this before sending (default 0: never)
      --max-cache-bytes N    cap of the disk cache (default 0: the disk's)
      --journal          write every message to the disk cache before sending it
      --progress         print "queued N" on stdout once the Nth message is queued
      --hand-off         return as soon as every message is queued: the worker goes on
                         delivering in the background, reconnecting as needed, and exits once
                         everything is acknowledged; the next run with the same -i and
                         --cache-dir takes over from it. Exit code 0 then means "queued"
  -d, --debug            the worker logs at debug level (on stderr)
      --quiet            print no error messages (the exit code still says what happened)
  -o FILE                read options from FILE instead of $XDG_CONFIG_HOME/robustmq-pub (else
                         ~/.config/robustmq-pub): one option per line, then its arguments,
                         separated by blanks, # for comments; an option on the command line
                         replaces every value the file gave it (-D, -L too)
      --help             this text
      --version          the RobustMQ version

What it waits for: every message is handed to RobustMQ (publish() returns once the message is in
shared memory, from where no crash of robustmq-pub loses it), then robustmq-pub waits up to
--timeout for the broker to acknowledge all of them, and stops: whatever is not acknowledged by
then is written to the disk cache.

Exit codes:
  0  every message was delivered (acknowledged by the broker, or sent at QoS 0); with
     --hand-off: every message was queued and handed to the worker
  1  usage error
  2  connect/setup error (cache directory, worker, options); nothing was published
  3  a message was refused (invalid topic, payload too large, queue full for --timeout); the
     messages before it are handled as usual
  4  messages are left in the cache because the broker was not reachable within --timeout;
     they are sent by the next robustmq-pub (or RobustMQ client) with the same -i and
     --cache-dir, e.g. robustmq-pub -i ID --cache-dir DIR --drain
  5  the broker refused the connection (bad user name or password, not authorized, banned, a
     broker certificate that does not verify, no TLS version in common): once the input is
     queued robustmq-pub stops as soon as it hears so, without waiting out --timeout (-l still
     reads and caches every line up to the end of its input), and the messages are left in
     the cache as for 4; fix the credentials or the TLS options, then --drain

After a crash or kill -9: the worker process of the dead run goes on delivering what was
queued, reconnecting as needed, and exits once everything is acknowledged. A robustmq-pub run
with the same -i and --cache-dir meanwhile takes over from it at once: the old worker commits
what is left to the cache and exits, and the new run delivers the leftovers first, oldest
first, then its own messages. Lines read from stdin but not yet queued when the process was
killed are lost with it; use --progress to know how far it got.
)";
}

}  // namespace robustmq::pub
