"""Seed a PyKMIP server database with COUNT AES-256 keys named PREFIX<i>, owned by OWNER.

Used by `npm run bench:compare` for the Locate workloads: registering them one by one over
KMIP would take PyKMIP's server far too long. It goes through PyKMIP's own object model and
SQLAlchemy tables (kmip.pie), so the server reads them exactly as if it had made them.

    /usr/bin/python3 scripts/bench-pykmip-seed.py DATABASE COUNT PREFIX OWNER
"""
import os
import sys
import time

import sqlalchemy
import sqlalchemy.orm
from kmip.core import enums
from kmip.pie import objects, sqltypes


def main():
    path, count, prefix, owner = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    engine = sqlalchemy.create_engine('sqlite:///' + path, echo=False)
    sqltypes.Base.metadata.create_all(engine)
    session = sqlalchemy.orm.sessionmaker(bind=engine)()
    material = os.urandom(32)
    masks = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    now = int(time.time())
    for i in range(count):
        key = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, material, masks, name=prefix + str(i))
        key._owner = owner
        key.initial_date = now
        session.add(key)
        if i % 10000 == 9999:
            session.commit()
    session.commit()
    session.close()


if __name__ == '__main__':
    main()
