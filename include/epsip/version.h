/* version.h -- the EPSIP release, reported in HELLO and GET /stats. */
#ifndef EPSIP_VERSION_H
#define EPSIP_VERSION_H

#define EPSIP_VERSION "0.1.0"

#endif /* EPSIP_VERSION_H */
