"""Other tools' output for the target-import tests (unit and CLI), and a closed result
a probe replaced in the engine returns."""

from __future__ import annotations

from exposcan.probe import Endpoint
from exposcan.probing import Probed
from exposcan.results import EndpointResult
from exposcan.vocabulary import Exposure, Status

# As nmap 7.93 wrote it for a loopback listener (-sT -Pn -oX), with a second host added:
# closed, filtered and UDP ports, a MAC address, the stylesheet PI nmap always writes.
NMAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Wed Dec  2 15:07:35 2026 as: nmap -sT -Pn -oX n.xml 127.0.0.1 -->
<nmaprun scanner="nmap" args="nmap -sT -Pn -oX n.xml 127.0.0.1" start="1796224055" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="3" services="104,8042,11112"/>
<host starttime="1796224055" endtime="1796224055"><status state="up" reason="user-set"/>
<address addr="127.0.0.1" addrtype="ipv4"/>
<hostnames><hostname name="localhost" type="PTR"/></hostnames>
<ports><port protocol="tcp" portid="104"><state state="closed" reason="conn-refused"/><service name="acr-nema" method="table" conf="3"/></port>
<port protocol="tcp" portid="8042"><state state="open" reason="syn-ack"/><service name="fs-agent" method="table" conf="3"/></port>
<port protocol="tcp" portid="11112"><state state="open" reason="syn-ack"/><service name="dicom" method="table" conf="3"/></port>
</ports>
</host>
<host><status state="up" reason="arp-response"/>
<address addr="127.0.0.2" addrtype="ipv4"/><address addr="02:00:00:00:00:01" addrtype="mac"/>
<ports><extraports state="closed" count="997"/>
<port protocol="tcp" portid="104"><state state="open" reason="syn-ack"/></port>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/><service name="ssh"/></port>
<port protocol="tcp" portid="4242"><state state="filtered" reason="no-response"/></port>
<port protocol="udp" portid="11112"><state state="open" reason="udp-response"/></port>
</ports>
</host>
<runstats><finished time="1796224055" exit="success"/><hosts up="2" down="0" total="2"/></runstats>
</nmaprun>
"""  # noqa: E501 - nmap's lines, as nmap writes them

# masscan -oJ before 1.3: a comma after every record, the last one included, and the
# {"finished": 1} end record; a --banners record with a service and no status.
MASSCAN_JSON = """[
{   "ip": "127.0.0.1",   "timestamp": "1796224055", "ports": [ {"port": 11112, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64} ] },
{   "ip": "127.0.0.2",   "timestamp": "1796224056", "ports": [ {"port": 53, "proto": "udp", "status": "open", "reason": "udp-response", "ttl": 64} ] },
{   "ip": "127.0.0.2",   "timestamp": "1796224057", "ports": [ {"port": 8042, "proto": "tcp", "service": {"name": "http", "banner": "x"} } ] },
{"finished": 1},
]
"""  # noqa: E501 - masscan's lines, as masscan writes them


def closed(endpoint: Endpoint) -> Probed:
    """What a probe replaced in the engine returns: closed, without a socket."""
    result = EndpointResult(
        host=endpoint.host,
        port=endpoint.port,
        protocol=endpoint.protocol,
        status=Status.CLOSED,
        exposure=Exposure.NONE,
    )
    return Probed(result)
