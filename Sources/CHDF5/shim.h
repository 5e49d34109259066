// libhdf5 (Debian libhdf5-dev 1.10.8, API v18 default), with shims for the macros Swift cannot import.
//
// HDF5 spells many constants as macros that expand to `H5open()` calls plus a global (`H5T_NATIVE_FLOAT`,
// `H5P_FILE_ACCESS`, `H5F_ACC_RDONLY`) or to casts (`H5P_DEFAULT`, `H5S_ALL`, `H5T_VARIABLE`). The Swift
// importer drops those, so each one is returned here by a `static inline` function named `CHDF5_<macro>`
// (GRDB's `GRDBSQLite/shim.h` pattern). Every function returns the macro's own C type.
#ifndef MODELPRESS_CHDF5_SHIM_H
#define MODELPRESS_CHDF5_SHIM_H

#include <hdf5.h>
#include <stdlib.h>

// MARK: Default and "all" identifiers.

static inline hid_t CHDF5_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t CHDF5_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t CHDF5_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline size_t CHDF5_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline hsize_t CHDF5_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }

// MARK: File access flags and object-count selectors.

static inline unsigned CHDF5_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned CHDF5_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned CHDF5_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned CHDF5_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline unsigned CHDF5_H5F_OBJ_ALL(void) { return H5F_OBJ_ALL; }
static inline hid_t CHDF5_H5F_OBJ_ALL_FILES(void) { return (hid_t)H5F_OBJ_ALL; }

// MARK: Property-list classes.

static inline hid_t CHDF5_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t CHDF5_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t CHDF5_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t CHDF5_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t CHDF5_H5P_DATASET_XFER(void) { return H5P_DATASET_XFER; }
static inline hid_t CHDF5_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t CHDF5_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }

// MARK: Creation-order flags, object-info fields.

static inline unsigned CHDF5_H5P_CRT_ORDER_TRACKED(void) { return H5P_CRT_ORDER_TRACKED; }
static inline unsigned CHDF5_H5P_CRT_ORDER_INDEXED(void) { return H5P_CRT_ORDER_INDEXED; }
static inline unsigned CHDF5_H5O_INFO_BASIC(void) { return H5O_INFO_BASIC; }
static inline unsigned CHDF5_H5O_INFO_TIME(void) { return H5O_INFO_TIME; }
static inline unsigned CHDF5_H5O_INFO_NUM_ATTRS(void) { return H5O_INFO_NUM_ATTRS; }
static inline H5Z_filter_t CHDF5_H5Z_FILTER_DEFLATE(void) { return H5Z_FILTER_DEFLATE; }
static inline H5Z_filter_t CHDF5_H5Z_FILTER_SHUFFLE(void) { return H5Z_FILTER_SHUFFLE; }

// MARK: Predefined datatypes.

static inline hid_t CHDF5_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t CHDF5_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t CHDF5_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t CHDF5_H5T_NATIVE_INT16(void) { return H5T_NATIVE_INT16; }
static inline hid_t CHDF5_H5T_NATIVE_UINT16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t CHDF5_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t CHDF5_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t CHDF5_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t CHDF5_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t CHDF5_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t CHDF5_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t CHDF5_H5T_STD_I8LE(void) { return H5T_STD_I8LE; }
static inline hid_t CHDF5_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t CHDF5_H5T_STD_I16LE(void) { return H5T_STD_I16LE; }
static inline hid_t CHDF5_H5T_STD_U16LE(void) { return H5T_STD_U16LE; }
static inline hid_t CHDF5_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t CHDF5_H5T_STD_U32LE(void) { return H5T_STD_U32LE; }
static inline hid_t CHDF5_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t CHDF5_H5T_STD_U64LE(void) { return H5T_STD_U64LE; }
static inline hid_t CHDF5_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t CHDF5_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }

#endif  // MODELPRESS_CHDF5_SHIM_H
