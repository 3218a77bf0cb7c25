@0xfedcba9876543210  # the id, then a comment before the semicolon
;
# Syntax corners: a UTF-8 byte order mark, CRLF line ends, tabs, comments between any two tokens,
# annotations on the file and on constants, type declarations the pkgdef never uses, trailing
# commas, redundant parentheses, empty structs and lists, no spaces around '='.
# eval: pkgdef

using Spk = import "/sandstorm/package.capnp" ;
using   Util=import"/sandstorm/util.capnp";

annotation note @0xd1b2c3d4e5f60718 (*) :Text;
$note("file annotation");

struct Unused {
  field @0 :Text;
  inner :group { x @1 :UInt8 = 5; }
  enum Kind { a @0; b @1; }
}
enum Color { red @0; green @1; }
interface Service { ping @0 () -> (); }

const pkgdef :Spk.PackageDefinition=(id="x",# comment right after a value
	manifest = ( appTitle = ((defaultText = "double parens")),
		appVersion=1 , minUpgradableAppVersion = (2),
		actions = [ ( ) , ],
		metadata = ( icons = ( appGrid = ( ) , ) , author = ( ) , license = ( ) , ) ,
	) ,
  sourceMap = (searchPath = [(packagePath = "a", hidePaths = [ ],),],),
  alwaysInclude = [ # a comment inside a list
    "one",
    # another
    "two",
  ],
) $note("on a constant") ;

const other :Util.LocalizedText = ( defaultText = "unused" ) $note ( "x" ) ;
