#!/usr/bin/python3
"""kmipd interop driver: run a JSON list of steps on ONE PyKMIP client connection.

Usage:
    /usr/bin/python3 test/interop/pykmip_driver.py --host H --port P \
        --cert C --key K --ca CA [--version 1.2] [--credential user:pass] \
        [--timeout SECONDS] < steps.json

stdin is a JSON list of steps, each an object with "op" and its arguments.
stdout is always exactly one JSON document:
    {"version": "1.2", "results": [{"op": ..., "ok": true, "value": ...}, ...]}
or, when the driver itself cannot work (bad arguments, bad steps document,
kmip not importable, connection refused / TLS handshake failure):
    {"error": "...", "type": "..."}            (exit code 2)

An operation that fails is a result, not a driver failure:
    {"op": "get", "ok": false, "error": "KmipOperationFailure",
     "status": "OPERATION_FAILED", "reason": "ITEM_NOT_FOUND", "message": "..."}

Any string argument of the form "$N" is replaced by the value of step N
(0-based); "$N.field" / "$N.0" descend into that value ("$$" escapes "$").

Only the PyKMIP client API is used (kmip.pie.client.ProxyKmipClient and its
low-level proxy for Discover Versions and Query), so the bytes on the wire are
exactly what PyKMIP applications send.
"""

import argparse
import binascii
import datetime
import enum
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import traceback

EXIT_OK = 0
EXIT_DRIVER_FAILURE = 2

# Keep the real stdout for the single JSON document; anything else that might
# print (PyKMIP, warnings) goes to stderr.
_REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr


def emit(document, code):
    _REAL_STDOUT.write(json.dumps(document, sort_keys=False) + "\n")
    _REAL_STDOUT.flush()
    sys.exit(code)


def fail_driver(message, kind="DriverError"):
    emit({"error": message, "type": kind}, EXIT_DRIVER_FAILURE)


try:
    from kmip.core import enums
    from kmip.core import objects as cobjects
    from kmip.core import primitives
    from kmip.core.messages import contents
    from kmip.pie import exceptions as pie_exceptions
    from kmip.pie import objects as pobjects
    from kmip.pie.client import ProxyKmipClient
    from kmip.services import kmip_protocol
    from kmip.core import exceptions as core_exceptions
except Exception as import_error:  # pragma: no cover - environment problem
    fail_driver(
        "cannot import PyKMIP (run this with /usr/bin/python3 and install "
        "python3-pykmip): {0}".format(import_error),
        "ImportError",
    )


VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}


class StepError(Exception):
    """A step is malformed (bad argument): reported as that step's result."""


class BadReference(StepError):
    """A "$N" reference points at a missing or failed step."""


# --------------------------------------------------------------------------
# Arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        fail_driver("bad arguments: {0}".format(message), "UsageError")


def parse_args(argv):
    p = _Parser(prog="pykmip_driver.py", add_help=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--cert", help="client certificate (PEM); leave out "
                   "--cert and --key to connect without a client certificate")
    p.add_argument("--key", help="client private key (PEM)")
    p.add_argument("--ca", required=True, help="CA bundle for the server")
    p.add_argument("--version", default="1.2", choices=sorted(VERSIONS))
    p.add_argument(
        "--credential",
        default=None,
        help="user:pass -> username/password in the client config; ':' "
        "sends a Credential with empty strings",
    )
    p.add_argument("--timeout", type=int, default=30,
                   help="socket timeout in seconds (default 30)")
    p.add_argument("--steps", default="-",
                   help="steps file (default '-' = stdin)")
    p.add_argument("--trace", action="store_true",
                   help="add each step's request/response TTLV as hex "
                   "(\"wire\": [{\"request\": ..., \"response\": ...}])")
    p.add_argument("--debug", action="store_true",
                   help="PyKMIP DEBUG logging (hex dumps) on stderr")
    args = p.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        fail_driver("--cert and --key go together", "UsageError")
    for name in ("cert", "key", "ca"):
        path = getattr(args, name)
        if path is None:
            continue
        if not os.path.isfile(path):
            fail_driver("--{0} {1}: no such file".format(name, path),
                        "UsageError")
    if args.port <= 0 or args.port > 65535:
        fail_driver("--port out of range", "UsageError")
    if args.credential is not None and ":" not in args.credential:
        fail_driver("--credential must be user:pass", "UsageError")
    return args


def read_steps(source):
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, "r") as f:
                text = f.read()
        steps = json.loads(text)
    except Exception as e:
        fail_driver("cannot read steps JSON: {0}".format(e), "BadSteps")
    if not isinstance(steps, list):
        fail_driver("steps must be a JSON list", "BadSteps")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str):
            fail_driver("step {0} must be an object with a string 'op'"
                        .format(i), "BadSteps")
    return steps


# --------------------------------------------------------------------------
# Client configuration


def _ini_value(value):
    value = str(value)
    if "\n" in value or "\r" in value:
        fail_driver("config values cannot contain newlines", "UsageError")
    # ConfigParser's BasicInterpolation treats '%' specially.
    return value.replace("%", "%%")


def write_client_config(directory, args):
    """Write the [client] INI section PyKMIP applications use."""
    lines = [
        "[client]",
        "host={0}".format(_ini_value(args.host)),
        "port={0}".format(_ini_value(args.port)),
        "ca_certs={0}".format(_ini_value(os.path.abspath(args.ca))),
        "cert_reqs=CERT_REQUIRED",
        "ssl_version=PROTOCOL_SSLv23",
        "do_handshake_on_connect=True",
        "suppress_ragged_eofs=True",
    ]
    if args.cert is not None:
        # Without these two lines PyKMIP connects with no client certificate.
        lines.append("certfile={0}".format(
            _ini_value(os.path.abspath(args.cert))))
        lines.append("keyfile={0}".format(
            _ini_value(os.path.abspath(args.key))))
    if args.credential is not None:
        user, _, password = args.credential.partition(":")
        # Empty values are kept on purpose: PyKMIP then sends a Credential
        # with empty Username/Password strings on every request.
        lines.append("username={0}".format(_ini_value(user)))
        lines.append("password={0}".format(_ini_value(password)))
    path = os.path.join(directory, "pykmip-client.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def make_client(config_path, version, timeout):
    client = ProxyKmipClient(
        config="client",
        config_file=config_path,
        kmip_version=VERSIONS[version],
    )
    # KMIPProxy passes timeout=30 as a direct value, which wins over the
    # config file; set it on the proxy before the socket is created.
    client.proxy.timeout = timeout
    return client


# --------------------------------------------------------------------------
# Value conversion (PyKMIP objects -> JSON)


def enum_name(value):
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, primitives.Enumeration):
        return enum_name(value.value)
    if isinstance(value, int):
        return "0x{0:08X}".format(value)
    return str(value)


def hexlify(data):
    if data is None:
        return None
    return binascii.hexlify(bytes(data)).decode("ascii")


def unhexlify(value, field):
    if not isinstance(value, str):
        raise StepError("{0} must be a hex string".format(field))
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError) as e:
        raise StepError("{0} is not valid hex: {1}".format(field, e))


def usage_mask_names(mask):
    names = [m.name for m in enums.CryptographicUsageMask if mask & m.value]
    rest = mask
    for m in enums.CryptographicUsageMask:
        rest &= ~m.value
    if rest:
        names.append("0x{0:08X}".format(rest))
    return names


def iso_datetime(seconds):
    return datetime.datetime.fromtimestamp(
        seconds, tz=datetime.timezone.utc
    ).strftime("%Y-%m-%dT%H:%M:%SZ")


def primitive_to_json(value):
    """Structured JSON rendering of any PyKMIP primitive / struct."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [primitive_to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, primitives.Enumeration):
        return enum_name(value.value)
    if isinstance(value, primitives.Boolean):
        return bool(value.value)
    if isinstance(value, primitives.DateTime):
        return iso_datetime(value.value)
    if isinstance(value, primitives.Interval):
        return value.value
    if isinstance(value, (primitives.Integer, primitives.LongInteger,
                          primitives.BigInteger)):
        if value.tag == enums.Tags.CRYPTOGRAPHIC_USAGE_MASK:
            return usage_mask_names(value.value)
        return value.value
    if isinstance(value, primitives.TextString):
        return value.value
    if isinstance(value, primitives.ByteString):
        return hexlify(value.value)
    if isinstance(value, primitives.Base):
        # Struct: render its primitive fields (private names lose the '_').
        out = {}
        for key, field in sorted(vars(value).items()):
            if isinstance(field, primitives.Base) or (
                isinstance(field, list) and field
                and all(isinstance(x, primitives.Base) for x in field)
            ):
                if key in ("tag", "type", "length", "logger"):
                    continue
                out[key.lstrip("_")] = primitive_to_json(field)
        return out
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, bytes):
        return hexlify(value)
    return str(value)


def attribute_value_to_string(name, value):
    """Attribute value as a string (Name -> its text, masks 'A|B')."""
    if name == "Cryptographic Usage Mask" and isinstance(
            getattr(value, "value", None), int):
        return "|".join(usage_mask_names(value.value))
    if hasattr(value, "name_value") and value.name_value is not None:
        nv = value.name_value
        return nv.value if hasattr(nv, "value") else str(nv)
    rendered = primitive_to_json(value)
    if isinstance(rendered, list):
        if rendered and all(isinstance(x, str) for x in rendered):
            return "|".join(rendered)
        return json.dumps(rendered, sort_keys=True)
    if isinstance(rendered, bool):
        return "true" if rendered else "false"
    if isinstance(rendered, dict):
        return json.dumps(rendered, sort_keys=True)
    if rendered is None:
        return ""
    return str(rendered)


def attribute_name(attribute):
    name = attribute.attribute_name
    name = name.value if hasattr(name, "value") else name
    if isinstance(name, enum.Enum):
        name = name.value
    return str(name)


def attributes_to_json(attrs):
    out = {}
    for attribute in attrs or []:
        name = attribute_name(attribute)
        value = attribute_value_to_string(name, attribute.attribute_value)
        if name in out:
            if isinstance(out[name], list):
                out[name].append(value)
            else:
                out[name] = [out[name], value]
        else:
            out[name] = value
    return out


def managed_object_to_json(obj):
    out = {
        "object_type": enum_name(obj.object_type),
        "value_hex": hexlify(obj.value),
    }
    algorithm = getattr(obj, "cryptographic_algorithm", None)
    if algorithm is not None:
        out["algorithm"] = enum_name(algorithm)
    length = getattr(obj, "cryptographic_length", None)
    if length is not None:
        out["length"] = length
    key_format = getattr(obj, "key_format_type", None)
    if key_format is not None:
        out["key_format_type"] = enum_name(key_format)
    data_type = getattr(obj, "data_type", None)
    if data_type is not None:
        out["secret_type"] = enum_name(data_type)
    opaque_type = getattr(obj, "opaque_type", None)
    if opaque_type is not None:
        out["opaque_type"] = enum_name(opaque_type)
    certificate_type = getattr(obj, "certificate_type", None)
    if certificate_type is not None:
        out["certificate_type"] = enum_name(certificate_type)
    return out


# --------------------------------------------------------------------------
# Argument helpers


def arg_enum(step, field, enum_cls, default=None, required=False):
    value = step.get(field, default)
    if value is None:
        if required:
            raise StepError("missing '{0}'".format(field))
        return None
    if not isinstance(value, str):
        raise StepError("'{0}' must be a {1} name".format(
            field, enum_cls.__name__))
    try:
        return enum_cls[value]
    except KeyError:
        pass
    try:
        return enum_cls[value.upper()]
    except KeyError:
        raise StepError("'{0}': unknown {1} {2!r}".format(
            field, enum_cls.__name__, value))


def arg_enum_list(step, field, enum_cls):
    value = step.get(field)
    if value is None:
        return None
    if not isinstance(value, list):
        raise StepError("'{0}' must be a list".format(field))
    return [arg_enum({"v": v}, "v", enum_cls, required=True) for v in value]


def arg_str(step, field, required=False):
    value = step.get(field)
    if value is None:
        if required:
            raise StepError("missing '{0}'".format(field))
        return None
    if not isinstance(value, str):
        raise StepError("'{0}' must be a string".format(field))
    return value


def arg_int(step, field, default=None, required=False):
    value = step.get(field, default)
    if value is None:
        if required:
            raise StepError("missing '{0}'".format(field))
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepError("'{0}' must be an integer".format(field))
    return value


def arg_str_list(step, field):
    value = step.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str)
                                              for v in value):
        raise StepError("'{0}' must be a list of strings".format(field))
    return value


def apply_names(step, obj):
    """name: one Name; names: explicit list ([] = send no Name at all).

    Without either, PyKMIP's default name for the object class is sent
    ('Symmetric Key', 'Secret Data', ...), as a plain PyKMIP app would.
    """
    names = arg_str_list(step, "names")
    name = arg_str(step, "name")
    if names is not None:
        obj.names = list(names)
    elif name is not None:
        obj.names = [name]


def raise_on_failure(result):
    status = result.result_status.value
    if status != enums.ResultStatus.SUCCESS:
        reason = result.result_reason.value if result.result_reason else None
        message = (result.result_message.value
                   if result.result_message else None)
        raise pie_exceptions.KmipOperationFailure(status, reason, message)


# --------------------------------------------------------------------------
# Operations


def op_create(client, step):
    return client.create(
        arg_enum(step, "algorithm", enums.CryptographicAlgorithm, "AES"),
        arg_int(step, "length", 256),
        operation_policy_name=arg_str(step, "operation_policy_name"),
        name=arg_str(step, "name"),
        cryptographic_usage_mask=arg_enum_list(
            step, "usage", enums.CryptographicUsageMask),
    )


def op_create_key_pair(client, step):
    public_uid, private_uid = client.create_key_pair(
        arg_enum(step, "algorithm", enums.CryptographicAlgorithm, "RSA"),
        arg_int(step, "length", 2048),
        operation_policy_name=arg_str(step, "operation_policy_name"),
        public_name=arg_str(step, "public_name"),
        public_usage_mask=arg_enum_list(
            step, "public_usage", enums.CryptographicUsageMask),
        private_name=arg_str(step, "private_name"),
        private_usage_mask=arg_enum_list(
            step, "private_usage", enums.CryptographicUsageMask),
    )
    return {"public_uid": public_uid, "private_uid": private_uid}


def op_register(client, step):
    kind = arg_str(step, "kind", required=True)
    value = unhexlify(step.get("value_hex"), "value_hex")
    masks = arg_enum_list(step, "usage", enums.CryptographicUsageMask)
    if kind == "symmetric":
        obj = pobjects.SymmetricKey(
            arg_enum(step, "algorithm", enums.CryptographicAlgorithm, "AES"),
            arg_int(step, "length", len(value) * 8),
            value,
            masks=masks,
        )
    elif kind == "secret":
        obj = pobjects.SecretData(
            value,
            arg_enum(step, "secret_type", enums.SecretDataType, "PASSWORD"),
            masks=masks,
        )
    elif kind == "opaque":
        obj = pobjects.OpaqueObject(
            value,
            arg_enum(step, "opaque_type", enums.OpaqueDataType, "NONE"),
        )
    elif kind == "certificate":
        obj = pobjects.X509Certificate(value, masks=masks)
    elif kind == "public_key":
        obj = pobjects.PublicKey(
            arg_enum(step, "algorithm", enums.CryptographicAlgorithm, "RSA"),
            arg_int(step, "length", required=True),
            value,
            format_type=arg_enum(step, "key_format_type",
                                 enums.KeyFormatType, "X_509"),
            masks=masks,
        )
    elif kind == "private_key":
        obj = pobjects.PrivateKey(
            arg_enum(step, "algorithm", enums.CryptographicAlgorithm, "RSA"),
            arg_int(step, "length", required=True),
            value,
            arg_enum(step, "key_format_type", enums.KeyFormatType, "PKCS_8"),
            masks=masks,
        )
    else:
        raise StepError("unknown register kind {0!r}".format(kind))
    apply_names(step, obj)
    policy = arg_str(step, "operation_policy_name")
    if policy is not None:
        obj.operation_policy_name = policy
    return client.register(obj)


def op_get(client, step):
    return managed_object_to_json(client.get(arg_str(step, "uid",
                                                     required=True)))


def op_get_attributes(client, step):
    _uid, attrs = client.get_attributes(
        arg_str(step, "uid", required=True), arg_str_list(step, "names"))
    return attributes_to_json(attrs)


def op_get_attribute_list(client, step):
    names = client.get_attribute_list(arg_str(step, "uid", required=True))
    return [n.value if isinstance(n, enum.Enum) else str(n)
            for n in names or []]


def op_locate(client, step):
    factory = client.attribute_factory
    attrs = []
    name = arg_str(step, "name")
    if name is not None:
        attrs.append(factory.create_attribute(enums.AttributeType.NAME, name))
    object_type = arg_enum(step, "object_type", enums.ObjectType)
    if object_type is not None:
        attrs.append(factory.create_attribute(
            enums.AttributeType.OBJECT_TYPE, object_type))
    state = arg_enum(step, "state", enums.State)
    if state is not None:
        attrs.append(factory.create_attribute(enums.AttributeType.STATE,
                                              state))
    algorithm = arg_enum(step, "algorithm", enums.CryptographicAlgorithm)
    if algorithm is not None:
        attrs.append(factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, algorithm))
    length = arg_int(step, "length")
    if length is not None:
        attrs.append(factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_LENGTH, length))
    group = arg_str(step, "object_group")
    if group is not None:
        attrs.append(factory.create_attribute(
            enums.AttributeType.OBJECT_GROUP, group))
    uids = client.locate(
        maximum_items=arg_int(step, "maximum_items"),
        offset_items=arg_int(step, "offset_items"),
        storage_status_mask=arg_int(step, "storage_status_mask"),
        attributes=attrs or None,
    )
    return list(uids or [])


def _attribute_type(name):
    """The AttributeType member whose value is `name` ('Name'), or None."""
    for member in enums.AttributeType:
        if member.value == name:
            return member
    return None


def op_modify_attribute(client, step):
    """Modify Attribute: 1.x sends Attribute{name, index, value}; 2.0 sends
    [Current Attribute] + New Attribute. `value` (and `current`, 2.0 only)
    is a string, integer or boolean: Name takes its text, 'x-' names a
    custom text attribute."""
    uid = arg_str(step, "uid", required=True)
    name = arg_str(step, "name", required=True)
    value = step.get("value")
    current = step.get("current")
    for field, v in (("value", value), ("current", current)):
        if v is not None and not isinstance(v, (str, int, bool)):
            raise StepError("'{0}' must be a string, integer or boolean"
                            .format(field))
    if value is None:
        raise StepError("missing 'value'")
    if client.kmip_version >= enums.KMIPVersion.KMIP_2_0:
        try:
            tag = enums.convert_attribute_name_to_tag(name)
        except ValueError as e:
            raise StepError(str(e))
        factory = client.attribute_value_factory
        new_attribute = cobjects.NewAttribute(
            attribute=factory.create_attribute_value_by_enum(tag, value))
        current_attribute = None
        if current is not None:
            current_attribute = cobjects.CurrentAttribute(
                attribute=factory.create_attribute_value_by_enum(tag,
                                                                 current))
        uid_out, attribute = client.modify_attribute(
            unique_identifier=uid,
            current_attribute=current_attribute,
            new_attribute=new_attribute)
    else:
        if current is not None:
            raise StepError("'current' is KMIP 2.0 only (1.x uses 'index')")
        attribute_type = _attribute_type(name)
        if attribute_type is None and not name.startswith("x-"):
            raise StepError("unknown attribute name {0!r}".format(name))
        attribute = client.attribute_factory.create_attribute(
            attribute_type if attribute_type is not None else name,
            value, arg_int(step, "index"))
        uid_out, attribute = client.modify_attribute(
            unique_identifier=uid, attribute=attribute)
    return {
        "uid": uid_out,
        "attribute": (None if attribute is None
                      else attributes_to_json([attribute])),
    }


def op_activate(client, step):
    client.activate(arg_str(step, "uid", required=True))
    return None


def op_revoke(client, step):
    client.revoke(
        arg_enum(step, "reason", enums.RevocationReasonCode, required=True),
        arg_str(step, "uid", required=True),
        revocation_message=arg_str(step, "message"),
        compromise_occurrence_date=arg_int(step, "compromise_date"),
    )
    return None


def op_destroy(client, step):
    client.destroy(arg_str(step, "uid", required=True))
    return None


def op_discover_versions(client, step):
    offered = arg_str_list(step, "versions")
    protocol_versions = None
    if offered is not None:
        protocol_versions = []
        for text in offered:
            m = re.match(r"^(\d+)\.(\d+)$", text)
            if not m:
                raise StepError("bad version {0!r}".format(text))
            protocol_versions.append(
                contents.ProtocolVersion(int(m.group(1)), int(m.group(2))))
    # Same request bytes as client.proxy.discover_versions(), but PyKMIP's
    # own response processing crashes (AttributeError) on a failed batch
    # item without a payload (e.g. a 1.0 server's Operation Not Supported),
    # so read the batch item here and report the server's real status.
    proxy = client.proxy
    batch_item = proxy._build_discover_versions_batch_item(protocol_versions)
    request = proxy._build_request_message(None, [batch_item])
    response = proxy._send_and_receive_message(request)
    if len(response.batch_items) != 1:
        raise core_exceptions.InvalidMessage(
            "expected 1 batch item, got {0}".format(
                len(response.batch_items)))
    item = response.batch_items[0]
    raise_on_failure(item)
    payload = item.response_payload
    versions = payload.protocol_versions if payload is not None else None
    return ["{0}.{1}".format(v.major, v.minor) for v in versions or []]


def op_query(client, step):
    functions = arg_enum_list(step, "functions", enums.QueryFunction)
    if functions is None:
        functions = [enums.QueryFunction.QUERY_OPERATIONS,
                     enums.QueryFunction.QUERY_OBJECTS,
                     enums.QueryFunction.QUERY_SERVER_INFORMATION]
    result = client.proxy.query(query_functions=functions)
    raise_on_failure(result)
    server_information = result.server_information
    return {
        "operations": [enum_name(o) for o in result.operations or []],
        "object_types": [enum_name(o) for o in result.object_types or []],
        "vendor_identification": result.vendor_identification,
        "server_information": (
            None if server_information is None
            else primitive_to_json(server_information)),
    }


def crypto_parameters(step):
    params = {}
    algorithm = arg_enum(step, "algorithm", enums.CryptographicAlgorithm)
    if algorithm is not None:
        params["cryptographic_algorithm"] = algorithm
    mode = arg_enum(step, "mode", enums.BlockCipherMode)
    if mode is not None:
        params["block_cipher_mode"] = mode
    padding = arg_enum(step, "padding", enums.PaddingMethod)
    if padding is not None:
        params["padding_method"] = padding
    if step.get("random_iv") is not None:
        if not isinstance(step["random_iv"], bool):
            raise StepError("'random_iv' must be a boolean")
        params["random_iv"] = step["random_iv"]
    hashing = arg_enum(step, "hash", enums.HashingAlgorithm)
    if hashing is not None:
        params["hashing_algorithm"] = hashing
    dsa = arg_enum(step, "dsa", enums.DigitalSignatureAlgorithm)
    if dsa is not None:
        params["digital_signature_algorithm"] = dsa
    for field in ("iv_length", "tag_length"):
        value = arg_int(step, field)
        if value is not None:
            params[field] = value
    return params or None


def op_encrypt(client, step):
    iv_hex = step.get("iv_hex")
    data, iv = client.encrypt(
        unhexlify(step.get("data_hex"), "data_hex"),
        uid=arg_str(step, "uid", required=True),
        cryptographic_parameters=crypto_parameters(step),
        iv_counter_nonce=(None if iv_hex is None
                          else unhexlify(iv_hex, "iv_hex")),
    )
    return {"data_hex": hexlify(data), "iv_hex": hexlify(iv)}


def op_decrypt(client, step):
    iv_hex = step.get("iv_hex")
    data = client.decrypt(
        unhexlify(step.get("data_hex"), "data_hex"),
        uid=arg_str(step, "uid", required=True),
        cryptographic_parameters=crypto_parameters(step),
        iv_counter_nonce=(None if iv_hex is None
                          else unhexlify(iv_hex, "iv_hex")),
    )
    return {"data_hex": hexlify(data)}


def op_encrypt_aead(client, step):
    """Encrypt with Authenticated Encryption Additional Data, returning the tag.

    ProxyKmipClient.encrypt() neither sends Authenticated Encryption Additional
    Data nor returns the Authenticated Encryption Tag (PyKMIP 0.10 drops it
    from the result dict), so AES-GCM needs PyKMIP's own Encrypt payload
    classes, sent through the same client connection.
    """
    from kmip.core.messages import payloads
    iv_hex = step.get("iv_hex")
    aad_hex = step.get("aad_hex")
    payload = payloads.EncryptRequestPayload(
        unique_identifier=arg_str(step, "uid", required=True),
        cryptographic_parameters=client._build_cryptographic_parameters(
            crypto_parameters(step)),
        data=unhexlify(step.get("data_hex"), "data_hex"),
        iv_counter_nonce=(None if iv_hex is None
                          else unhexlify(iv_hex, "iv_hex")),
        auth_additional_data=(None if aad_hex is None
                              else unhexlify(aad_hex, "aad_hex")),
    )
    response = client.proxy.send_request_payload(
        enums.Operation.ENCRYPT, payload)
    return {"data_hex": hexlify(response.data),
            "iv_hex": hexlify(response.iv_counter_nonce),
            "tag_hex": hexlify(response.auth_tag)}


def op_decrypt_aead(client, step):
    """Decrypt with Authenticated Encryption Additional Data and Tag."""
    from kmip.core.messages import payloads
    aad_hex = step.get("aad_hex")
    payload = payloads.DecryptRequestPayload(
        unique_identifier=arg_str(step, "uid", required=True),
        cryptographic_parameters=client._build_cryptographic_parameters(
            crypto_parameters(step)),
        data=unhexlify(step.get("data_hex"), "data_hex"),
        iv_counter_nonce=unhexlify(step.get("iv_hex"), "iv_hex"),
        auth_additional_data=(None if aad_hex is None
                              else unhexlify(aad_hex, "aad_hex")),
        auth_tag=unhexlify(step.get("tag_hex"), "tag_hex"),
    )
    response = client.proxy.send_request_payload(
        enums.Operation.DECRYPT, payload)
    return {"data_hex": hexlify(response.data)}


def op_sign(client, step):
    signature = client.sign(
        unhexlify(step.get("data_hex"), "data_hex"),
        uid=arg_str(step, "uid", required=True),
        cryptographic_parameters=crypto_parameters(step),
    )
    return {"signature_hex": hexlify(signature)}


def op_signature_verify(client, step):
    validity = client.signature_verify(
        unhexlify(step.get("data_hex"), "data_hex"),
        unhexlify(step.get("signature_hex"), "signature_hex"),
        uid=arg_str(step, "uid", required=True),
        cryptographic_parameters=crypto_parameters(step),
    )
    return enum_name(validity)


def op_mac(client, step):
    uid, mac_data = client.mac(
        unhexlify(step.get("data_hex"), "data_hex"),
        uid=arg_str(step, "uid", required=True),
        algorithm=arg_enum(step, "algorithm", enums.CryptographicAlgorithm,
                           "HMAC_SHA256"),
    )
    return {"uid": uid, "mac_hex": hexlify(mac_data)}


def op_derive_key(client, step):
    uids = step.get("uids")
    if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
        raise StepError("'uids' must be a list of strings")
    parameters = {}
    crypto = crypto_parameters(step)
    if crypto is not None:
        parameters["cryptographic_parameters"] = crypto
    for field in ("derivation_data", "salt", "initialization_vector"):
        value = step.get(field + "_hex")
        if value is not None:
            parameters[field] = unhexlify(value, field + "_hex")
    iterations = arg_int(step, "iteration_count")
    if iterations is not None:
        parameters["iteration_count"] = iterations
    return client.derive_key(
        arg_enum(step, "object_type", enums.ObjectType, "SYMMETRIC_KEY"),
        uids,
        arg_enum(step, "method", enums.DerivationMethod, required=True),
        parameters,
        cryptographic_algorithm=arg_enum(
            step, "derived_algorithm", enums.CryptographicAlgorithm, "AES"),
        cryptographic_length=arg_int(step, "derived_length", 256),
    )


class Session(object):
    """The one client connection plus driver-level steps."""

    def __init__(self, config_path, args):
        self.config_path = config_path
        self.args = args
        self.version = args.version
        self.client = make_client(config_path, self.version, args.timeout)
        self.broken_by = None
        self.wire = []

    def open(self):
        self.client.open()
        self._wrap_protocol()

    def _wrap_protocol(self):
        """With --trace, record the TTLV bytes of every message."""
        if not self.args.trace:
            return
        protocol = self.client.proxy.protocol
        original_write = protocol.write
        original_read = protocol.read
        session = self

        def write(data):
            session.wire.append({"request": hexlify(bytes(data))})
            return original_write(data)

        def read():
            stream = original_read()
            entry = {"response": hexlify(bytes(stream.buffer))}
            if session.wire and "response" not in session.wire[-1]:
                session.wire[-1].update(entry)
            else:
                session.wire.append(entry)
            return stream

        protocol.write = write
        protocol.read = read

    def close(self):
        try:
            self.client.close()
        except Exception:
            pass

    def op_set_version(self, step):
        version = arg_str(step, "version", required=True)
        if version not in VERSIONS:
            raise StepError("unknown version {0!r}".format(version))
        self.client.kmip_version = VERSIONS[version]
        self.version = version
        return version

    def op_reconnect(self, step):
        self.close()
        self.client = make_client(self.config_path, self.version,
                                  self.args.timeout)
        self.client.open()
        self._wrap_protocol()
        self.broken_by = None
        return None


OPERATIONS = {
    "create": op_create,
    "create_key_pair": op_create_key_pair,
    "register": op_register,
    "get": op_get,
    "get_attributes": op_get_attributes,
    "get_attribute_list": op_get_attribute_list,
    "locate": op_locate,
    "modify_attribute": op_modify_attribute,
    "activate": op_activate,
    "revoke": op_revoke,
    "destroy": op_destroy,
    "discover_versions": op_discover_versions,
    "query": op_query,
    "encrypt": op_encrypt,
    "decrypt": op_decrypt,
    "encrypt_aead": op_encrypt_aead,
    "decrypt_aead": op_decrypt_aead,
    "sign": op_sign,
    "signature_verify": op_signature_verify,
    "mac": op_mac,
    "derive_key": op_derive_key,
}

SESSION_OPERATIONS = ("set_version", "reconnect")


# --------------------------------------------------------------------------
# References


_REF = re.compile(r"^\$(\d+)((?:\.[A-Za-z0-9_]+)*)$")


def resolve(value, results):
    if isinstance(value, dict):
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    if value.startswith("$$"):
        return value[1:]
    m = _REF.match(value)
    if not m:
        raise BadReference("bad reference {0!r}".format(value))
    index = int(m.group(1))
    if index >= len(results):
        raise BadReference("{0}: step {1} has not run yet".format(
            value, index))
    earlier = results[index]
    if not earlier.get("ok"):
        raise BadReference("{0}: step {1} ({2}) failed".format(
            value, index, earlier.get("op")))
    current = earlier.get("value")
    for part in [p for p in m.group(2).split(".") if p]:
        if isinstance(current, list) and part.isdigit() \
                and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise BadReference("{0}: no '{1}' in step {2}'s value".format(
                value, part, index))
    return current


# --------------------------------------------------------------------------
# Error reporting


_CONNECTION_ERRORS = (OSError, EOFError, kmip_protocol.RequestLengthMismatch)


def innermost_frame(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return None
    frame = tb[-1]
    path = frame.filename
    marker = os.sep + "kmip" + os.sep
    if marker in path:
        path = "kmip" + os.sep + path.split(marker, 1)[1]
    else:
        path = os.path.basename(path)
    return "{0}:{1} in {2}".format(path, frame.lineno, frame.name)


def failure_result(op, exc):
    result = {"op": op, "ok": False, "error": type(exc).__name__}
    if isinstance(exc, (pie_exceptions.KmipOperationFailure,
                        core_exceptions.KmipError)):
        result["status"] = enum_name(getattr(exc, "status", None))
        result["reason"] = enum_name(getattr(exc, "reason", None))
        message = getattr(exc, "message", None)
        if message is None and exc.args:
            message = exc.args[0]
        result["message"] = None if message is None else str(message)
    else:
        result["message"] = str(exc)
        if not isinstance(exc, StepError):
            where = innermost_frame(exc)
            if where:
                result["where"] = where
    return result


def run_step(session, index, step, results):
    session.wire = []
    result = _run_step(session, index, step, results)
    if session.args.trace:
        result["wire"] = session.wire
    return result


def _run_step(session, index, step, results):
    op = step["op"]
    if session.broken_by is not None and op != "reconnect":
        return {"op": op, "ok": False, "error": "ConnectionLost",
                "message": "not sent: the connection broke at step {0}"
                .format(session.broken_by)}
    try:
        args = resolve({k: v for k, v in step.items() if k != "op"}, results)
        if op in SESSION_OPERATIONS:
            value = getattr(session, "op_" + op)(args)
        elif op in OPERATIONS:
            value = OPERATIONS[op](session.client, args)
        else:
            raise StepError("unknown op {0!r}".format(op))
        return {"op": op, "ok": True, "value": value}
    except Exception as exc:
        if isinstance(exc, _CONNECTION_ERRORS):
            session.broken_by = index
        expected = (StepError, pie_exceptions.KmipOperationFailure,
                    core_exceptions.KmipError)
        if isinstance(exc, expected):
            sys.stderr.write("pykmip_driver: step {0} ({1}): {2}: {3}\n"
                             .format(index, op, type(exc).__name__, exc))
        else:
            # Unexpected (decoding errors, socket errors): full traceback on
            # stderr to show what PyKMIP disliked in the server's response.
            sys.stderr.write("pykmip_driver: step {0} ({1}) raised:\n"
                             .format(index, op))
            traceback.print_exception(type(exc), exc, exc.__traceback__,
                                      file=sys.stderr)
        return failure_result(op, exc)


def main(argv):
    args = parse_args(argv)
    # PyKMIP loggers set their own levels; filter at the handler so only
    # --debug shows their chatter (always on stderr, never stdout).
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if args.debug else logging.ERROR)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG if args.debug
                                 else logging.ERROR)
    if args.debug:
        for name in ("kmip", "kmip.services.kmip_protocol"):
            logging.getLogger(name).setLevel(logging.DEBUG)
    steps = read_steps(args.steps)
    directory = tempfile.mkdtemp(prefix="pykmip-driver-")
    try:
        config_path = write_client_config(directory, args)
        try:
            session = Session(config_path, args)
            session.open()
        except Exception as e:
            fail_driver("cannot connect to {0}:{1}: {2}: {3}".format(
                args.host, args.port, type(e).__name__, e),
                "ConnectionFailure")
        results = []
        try:
            for index, step in enumerate(steps):
                results.append(run_step(session, index, step, results))
        finally:
            session.close()
        emit({"version": args.version, "results": results}, EXIT_OK)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except SystemExit:
        raise
    except BaseException as e:  # never a traceback on stdout
        traceback.print_exc(file=sys.stderr)
        fail_driver("driver crashed: {0}: {1}".format(type(e).__name__, e),
                    "DriverCrash")
