"""ACLs: who may do what to a znode (client.proto, "Access control"). Named as in kazoo.security.

    from paddock_client import ACL, Id, Permissions, make_digest_acl
    s.create("/cfg", b"v1", acl=[make_digest_acl("alice", "secret", all=True), *READ_ACL_UNSAFE])
    s.add_auth("digest", "alice:secret")

An ACL entry is `ACL(perms, Id(scheme, id))`; a node's ACL is a list of them. A request passes when
one entry grants the permission it needs to one of the session's ids.
"""

import base64
import hashlib
from typing import NamedTuple

from ._proto import load

pb, _ = load()


class Permissions:
    """ZooKeeper's ZooDefs.Perms bits; `ACL.perms` is an OR of them."""

    READ = 1  # get_data, get_children, get_acl (digest hashes hidden without ADMIN)
    WRITE = 2  # set_data
    CREATE = 4  # create a child
    DELETE = 8  # delete a child
    ADMIN = 16  # set_acl (and get_acl with digest hashes shown)
    ALL = 31  # "cdrwa"


_LETTERS = (("c", Permissions.CREATE), ("d", Permissions.DELETE), ("r", Permissions.READ),
            ("w", Permissions.WRITE), ("a", Permissions.ADMIN))


class Id(NamedTuple):
    """An identity `scheme:id`: ("world", "anyone"), ("digest", "user:base64(sha1)"),
    ("ip", "10.0.0.0/8"), ("x509", subject), or ("auth", "") in create / set_acls only."""

    scheme: str
    id: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.id}"

    def to_proto(self):
        return pb.Id(scheme=self.scheme, id=self.id)

    @classmethod
    def of(cls, msg) -> "Id":
        return cls(msg.scheme, msg.id)


class ACL(NamedTuple):
    """One ACL entry: `perms` (a Permissions bit set) granted to `id`."""

    perms: int
    id: Id

    @property
    def acl_list(self) -> list[str]:
        """The permission names, as kazoo's ACL.acl_list: ["READ", "WRITE"] or ["ALL"]."""
        if self.perms == Permissions.ALL:
            return ["ALL"]
        return [n for n in ("READ", "WRITE", "CREATE", "DELETE", "ADMIN") if self.perms & getattr(Permissions, n)]

    def __str__(self) -> str:  # zkCli's form: digest:alice:...:cdrwa
        return f"{self.id}:{''.join(c for c, bit in _LETTERS if self.perms & bit)}"

    def to_proto(self):
        return pb.Acl(perms=self.perms, id=self.id.to_proto())

    @classmethod
    def of(cls, msg) -> "ACL":
        return cls(msg.perms, Id.of(msg.id))


ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")  # expanded by the server to every id the session authenticated with

OPEN_ACL_UNSAFE = [ACL(Permissions.ALL, ANYONE_ID_UNSAFE)]  # what a create without `acl` gets
READ_ACL_UNSAFE = [ACL(Permissions.READ, ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL = [ACL(Permissions.ALL, AUTH_IDS)]  # INVALIDACL for a session with no digest/x509 id


def make_digest_acl_credential(username: str, password: str) -> str:
    """The digest id of `username:password`: "username:base64(sha1(username:password))",
    as ZooKeeper's DigestAuthenticationProvider computes it."""
    digest = hashlib.sha1(f"{username}:{password}".encode("utf-8")).digest()
    return f"{username}:{base64.b64encode(digest).decode('ascii')}"


def make_acl(scheme: str, credential: str, read=False, write=False, create=False, delete=False,
             admin=False, all=False) -> ACL:
    """One ACL entry for `scheme:credential` with the permissions named by the flags."""
    if all:
        perms = Permissions.ALL
    else:
        perms = ((Permissions.READ if read else 0) | (Permissions.WRITE if write else 0)
                 | (Permissions.CREATE if create else 0) | (Permissions.DELETE if delete else 0)
                 | (Permissions.ADMIN if admin else 0))
    return ACL(perms, Id(scheme, credential))


def make_digest_acl(username: str, password: str, read=False, write=False, create=False,
                    delete=False, admin=False, all=False) -> ACL:
    """An ACL entry for the digest user `username` with password `password` (only the hash is sent)."""
    return make_acl("digest", make_digest_acl_credential(username, password), read=read, write=write,
                    create=create, delete=delete, admin=admin, all=all)


def acl_list_proto(acls):
    """`acls` (ACL tuples, or pb.Acl messages) as a pb.AclList; None stays None (the field unset,
    i.e. world:anyone:cdrwa). An empty list is sent as such: the server answers INVALIDACL."""
    if acls is None:
        return None
    return pb.AclList(acls=acls_proto(acls))


def acls_proto(acls) -> list:
    """`acls` as a list of pb.Acl. A single ACL (not in a list) is a mistake worth catching early."""
    if isinstance(acls, ACL) or isinstance(acls, (str, bytes)):
        raise TypeError("acls must be a list of ACL entries, e.g. [make_digest_acl(...)]")
    return [a if isinstance(a, pb.Acl) else ACL(a[0], Id(*a[1])).to_proto() for a in acls]
