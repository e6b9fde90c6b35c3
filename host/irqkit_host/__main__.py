"""python -m irqkit_host  ==  irqkit"""
import sys

from irqkit_host.cli import main

sys.exit(main())
